#!/usr/bin/env python3
"""Baseline for scripts/bench/reward.sh: HF Math-Verify (`math_verify.parse` + `verify`) on the first N items that
dsrl-bench-reward dumped, single-threaded. Prints one JSON line with items/s and how many it judged right.
Usage: reward_baseline.py ITEMS.jsonl [N]"""
import json
import sys
import time

from math_verify import parse, verify

path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000
items = [json.loads(line) for _, line in zip(range(n), open(path))]
start = time.perf_counter()
right = sum(bool(verify(parse("$" + it["reference_answer"] + "$"), parse(it["response"]))) for it in items)
seconds = time.perf_counter() - start
print(json.dumps({"impl": "math-verify", "threads": 1, "items": len(items), "judged_right": right,
                  "items_per_s": round(len(items) / seconds)}))
