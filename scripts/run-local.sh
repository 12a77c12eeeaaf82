#!/usr/bin/env bash
# GRPO on one machine: starts dsrl-reward and N dsrl-rollout workers on 127.0.0.1, then dsrl-train (stage grpo,
# synthesize or refine) on R MPI ranks against them, with the endpoints filled in; everything stops when the trainer ends,
# fails or is interrupted (Ctrl-C).
#   scripts/run-local.sh CONFIG [--ranks 2] [--workers 1] [--rollout-config configs/rollout.yaml]
#                        [--reward-config configs/reward.yaml] [--gpus 0,1,...] [--set KEY=VALUE ...] [--resume]
# --set and --resume go to dsrl-train. The workers start from the trainer's model (model.checkpoint or
# model.config) on its device; stage grpo pushes its weights to them before the first rollout anyway, stage
# synthesize and refine sample from what they loaded.
# GPUs (device: cuda): --gpus lists the GPUs to use (default: $CUDA_VISIBLE_DEVICES, else every GPU nvidia-smi
# lists). With more GPUs than ranks, the ranks take the first RANKS GPUs and the workers the rest; with as many,
# they share; fewer is refused (scripts/lib/gpu-placement.sh). --ranks 1 --gpus 0 puts the whole job on GPU 0.
# Service logs: <run_dir>/services/. Build first (scripts/build.sh dsrl-train dsrl-rollout dsrl-reward).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DSRL_BUILD_DIR:-$root/build}
[ $# -ge 1 ] || { sed -n '2,12p' "$0"; exit 2; }
config=$1; shift
ranks=2 workers=1 rollout_config=$root/configs/rollout.yaml reward_config=$root/configs/reward.yaml
train_args=() gpus=""
while [ $# -gt 0 ]; do
  case $1 in
    --ranks) ranks=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --rollout-config) rollout_config=$2; shift 2 ;;
    --reward-config) reward_config=$2; shift 2 ;;
    --gpus) gpus=$2; shift 2 ;;
    --set) train_args+=(--set "$2"); shift 2 ;;
    --resume) train_args+=(--resume); shift ;;
    *) echo "run-local.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# The trainer's resolved config: its run_dir, model and device decide where logs go and what the workers serve.
source "$root/scripts/lib/grpo-config.sh"
print_args=()
for a in "${train_args[@]}"; do [ "$a" = --resume ] || print_args+=("$a"); done
grpo_resolve "$bin" "$config" "${print_args[@]}"
case $(grpo_value "" stage) in
  grpo|synthesize|refine) ;;
  *) echo "run-local.sh: $config is not a grpo, synthesize or refine config (stage: $(grpo_value "" stage))" >&2; exit 2 ;;
esac
run_dir=$(grpo_value "" run_dir)
if [ -z "$run_dir" ]; then run_dir=runs/grpo-$(date -u +%Y%m%d-%H%M%S); train_args+=(--set "run_dir=$run_dir"); fi
device=$(grpo_value "" device)
grpo_model_args
logs=$run_dir/services
source "$root/scripts/lib/gpu-placement.sh"
worker_gpus=()
[ "$device" != cuda ] || gpu_place "$ranks" "$workers" "$gpus"
mkdir -p "$logs"

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM
endpoint=""
start() {  # name binary args...: starts a service, waits for its port file, sets $endpoint
  local name=$1; shift
  rm -f "$logs/$name.port"
  "$@" --set server.port_file="$logs/$name.port" --set log.file="$logs/$name.log" >>"$logs/$name.stderr" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do [ -s "$logs/$name.port" ] && break; kill -0 "${pids[-1]}" 2>/dev/null || break; sleep 0.1; done
  [ -s "$logs/$name.port" ] || { echo "run-local.sh: $name did not start; see $logs/$name.stderr" >&2; exit 1; }
  endpoint=127.0.0.1:$(cat "$logs/$name.port")
}
start reward "$bin/reward/dsrl-reward" --config "$reward_config"
reward=$endpoint
endpoints=()
for w in $(seq "$workers"); do
  on_gpu=(); [ -z "${worker_gpus[w-1]:-}" ] || on_gpu=(env "CUDA_VISIBLE_DEVICES=${worker_gpus[w-1]}")
  start "rollout-$w" "${on_gpu[@]}" "$bin/rollout/dsrl-rollout" --config "$rollout_config" "${grpo_model[@]}" \
    --set "engine.device=$device"
  endpoints+=("$endpoint")
done
list=$(IFS=,; echo "${endpoints[*]}")
echo "run-local.sh: reward $reward, rollout [$list], $ranks trainer rank(s), run dir $run_dir"
[ "$device" != cuda ] || echo "run-local.sh: trainer on GPU(s) $trainer_gpus, workers on GPU(s) ${worker_gpus[*]}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ "$device" != cuda ] || export CUDA_VISIBLE_DEVICES=$trainer_gpus
mpirun --oversubscribe -np "$ranks" "$bin/trainer/dsrl-train" --config "$config" "${train_args[@]}" \
  --set "grpo.rollout_endpoints=[$list]" --set "grpo.reward_endpoint=$reward"
