#!/usr/bin/env bash
# Rollout throughput on the GPU machine (after scripts/gpu-build.sh dsrl-rollout dsrl-bench-rollout): a dsrl-rollout
# worker on cuda serving the 286M config (scripts/bench/dsv32_286m_config.json), measured over gRPC by
# dsrl-bench-rollout at 64 sequences of 128 prompt + 128 new tokens (top_p 0.95) and at 512 concurrent sequences,
# without and with recording (sampling masks + routing traces);
# then transformers `generate` on the same shapes (scripts/bench/hf_model.py), in the same run.
# Usage: scripts/bench/rollout.sh [hf]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -f .gpu-deps/env.sh ]; then source .gpu-deps/env.sh; fi
build=${DSRL_BUILD_DIR:-$root/build-gpu}
config=$root/scripts/bench/dsv32_286m_config.json
tmp=$(mktemp -d)
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  device: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
echo "command: scripts/bench/rollout.sh $*"
"$build/rollout/dsrl-rollout" --config configs/rollout.yaml --set model.config="$config" \
  --set engine.device=cuda --set engine.max_sequences=512 --set engine.max_context=512 \
  --set server.port_file="$tmp/port" 2>"$tmp/rollout.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 600); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "dsrl-rollout did not start:"; cat "$tmp/rollout.log"; exit 1; }
address=127.0.0.1:$(cat "$tmp/port")
for record in 0 1; do  # 1: with sampling masks and routing traces, as an RL step asks
  "$build/rollout/dsrl-bench-rollout" "$address" --prompts 64 --prompt-len 128 --new 128 --top-p 0.95 --record $record
  "$build/rollout/dsrl-bench-rollout" "$address" --clients 8 --prompts 64 --prompt-len 128 --new 128 --top-p 0.95 \
    --record $record
done
grep -c "captured a CUDA graph" "$tmp/rollout.log" | sed 's/^/CUDA graphs captured: /'
if [ "${1:-}" = hf ]; then python3 "$root/scripts/bench/hf_model.py" "$config" 1 128 1 2>/dev/null; fi
