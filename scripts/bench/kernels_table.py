# The table of scripts/bench/kernels.sh: ours beside eager per shape, with the published anchor where one exists.
import json, sys

ANCHORS = {  # (kernel, heads, topk): what a published kernel reaches (TFLOP/s) and where
    ("sparse_mla_fwd", 128, 2048): "FlashMLA sparse fwd 640 (H800, same compute as H100); issue goal >= 300",
}
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
shapes = []
for r in rows:
    key = (r["kernel"], r["s_q"], r["s_kv"], r["heads"], r["topk"], r["d_qk"])
    if key not in shapes: shapes.append(key)
print("| kernel | shape | dsrl ms | dsrl TFLOP/s | eager ms | eager TFLOP/s | speed-up | max diff vs eager | anchor |")
print("|---|---|---|---|---|---|---|---|---|")
for key in shapes:
    got = {r["impl"]: r for r in rows if (r["kernel"], r["s_q"], r["s_kv"], r["heads"], r["topk"], r["d_qk"]) == key}
    ours, eager = got.get("dsrl", {}), got.get("eager", {})
    speedup = f'{eager["ms"] / ours["ms"]:.1f}x' if ours and eager else "-"
    shape = f"s_q {key[1]}, s_kv {key[2]}, h {key[3]}, topk {key[4]}, d {key[5]}"
    print(f'| {key[0]} | {shape} | {ours.get("ms", "-")} | {ours.get("tflops", "-")} | {eager.get("ms", "-")} | '
          f'{eager.get("tflops", "-")} | {speedup} | {ours.get("max_diff_vs_eager", "-")} | '
          f'{ANCHORS.get((key[0], key[3], key[4]), "")} |')
