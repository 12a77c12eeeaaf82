#!/usr/bin/env bash
# Rule-only reward scoring throughput on this machine (the CPU machine: compare ratios), side by side in one run:
# dsrl's scoring library (dsrl-bench-reward: 200k short math answers, 1 and 2 threads) and HF Math-Verify
# (scripts/bench/reward_baseline.py, 1 thread, the first 5,000 of the same items).
# Usage: scripts/bench/reward.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
scripts/build.sh dsrl-bench-reward > /dev/null
python3 -c "import math_verify" 2>/dev/null || pip install -q math-verify
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "command: scripts/bench/reward.sh"
build/reward/dsrl-bench-reward --items 200000 --threads "$(nproc)" --dump "$tmp/items.jsonl"
python3 scripts/bench/reward_baseline.py "$tmp/items.jsonl" 5000
