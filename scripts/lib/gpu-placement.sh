# Sourced by scripts/run-local.sh: which GPUs the trainer ranks and the rollout workers of one machine get.
#   gpu_place RANKS WORKERS [LIST]   LIST: comma-separated GPU ids (default: $CUDA_VISIBLE_DEVICES when set, else
#                                    every GPU nvidia-smi lists, numbered as nvidia-smi does: CUDA_DEVICE_ORDER
#                                    is set to PCI_BUS_ID unless already set)
# Sets $trainer_gpus (CUDA_VISIBLE_DEVICES for mpirun; each rank takes local rank mod the GPUs it sees) and the
# array worker_gpus (a GPU id per worker). With more GPUs than ranks, the ranks take the first RANKS GPUs and the
# workers go round-robin over the rest; with as many, ranks and workers share them. Fewer GPUs than ranks is an
# error: NCCL refuses two ranks on one GPU.
gpu_place() {
  local ranks=$1 workers=$2 list=${3:-} ids=() g w
  export CUDA_DEVICE_ORDER=${CUDA_DEVICE_ORDER:-PCI_BUS_ID}
  if [ -z "$list" ]; then list=${CUDA_VISIBLE_DEVICES:-}; fi
  if [ -z "$list" ]; then
    command -v nvidia-smi >/dev/null || { echo "gpu-placement: device cuda, no nvidia-smi; pass --gpus" >&2; exit 2; }
    list=$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, -) ||
      { echo "gpu-placement: nvidia-smi failed; pass --gpus" >&2; exit 2; }
  fi
  IFS=, read -r -a ids <<<"$list"
  [ "${#ids[@]}" -gt 0 ] || { echo "gpu-placement: no GPU in '$list'" >&2; exit 2; }
  for g in "${ids[@]}"; do  # indices, or the UUIDs CUDA_VISIBLE_DEVICES also takes
    [[ $g =~ ^[A-Za-z0-9/-]+$ ]] || { echo "gpu-placement: --gpus expects ids like 0,1,2; got '$list'" >&2; exit 2; }
  done
  local n=${#ids[@]} pool=("${ids[@]}")
  [ "$n" -ge "$ranks" ] || {
    echo "gpu-placement: $ranks trainer ranks need as many GPUs, got $n ($list); lower --ranks or add GPUs" >&2
    exit 2
  }
  if [ "$n" -gt "$ranks" ]; then
    trainer_gpus=$(IFS=,; echo "${ids[*]:0:ranks}")
    pool=("${ids[@]:ranks}")
  else
    trainer_gpus=$(IFS=,; echo "${ids[*]}")
  fi
  worker_gpus=()
  for ((w = 0; w < workers; w++)); do worker_gpus+=("${pool[w % ${#pool[@]}]}"); done
}
