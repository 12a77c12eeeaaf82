# Sourced by scripts/run-local.sh and scripts/slurm/grpo.sbatch: reads a grpo config as dsrl-train resolves it.
#   grpo_resolve BIN CONFIG [--set KEY=VALUE ...]   sets $grpo_resolved
#   grpo_value SECTION KEY                          one value of it ("" SECTION: a top-level key)
#   grpo_model_args                                 sets the array grpo_model: --set model.checkpoint|config=...
grpo_resolve() {
  local bin=$1 config=$2
  shift 2
  grpo_resolved=$("$bin/trainer/dsrl-train" --config "$config" "$@" --print-config)
}
grpo_value() {
  awk -v section="$1" -v key="$2" '
    /^[^ ]/ { in_section = ($1 == section ":") }
    (section == "" || in_section) && $1 == key ":" { sub(/^[^:]*: */, ""); gsub(/"/, ""); print; exit }' \
    <<<"$grpo_resolved"
}
grpo_model_args() {
  local checkpoint
  checkpoint=$(grpo_value model checkpoint)
  if [ -n "$checkpoint" ]; then grpo_model=(--set "model.checkpoint=$checkpoint")
  else grpo_model=(--set "model.config=$(grpo_value model config)" --set "model.init_seed=$(grpo_value model init_seed)"); fi
}
