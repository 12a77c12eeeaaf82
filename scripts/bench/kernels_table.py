# The table of scripts/bench/kernels.sh: ours beside eager per shape, with the published anchor where one exists.
import json, sys

ANCHORS = {  # what a published kernel reaches (TFLOP/s), keyed by (kernel, shape)
    ("sparse_mla_fwd", "s_q 4096, s_kv 8192, h 128, topk 2048, d 576/512"):
        "FlashMLA 640 (H800, the H100's compute); goal >= 300",
    ("sparse_mla_bwd", "s_q 4096, s_kv 8192, h 128, topk 2048, d 576/512"):
        "TileLang 100-115; goal >= 100",
    ("indexer_topk", "batch 1, seq 16384, h 64 x 128, topk 2048"):
        "DeepGEMM FP8 ~1000; goal >= 250 (bf16)",
}

def shape_of(r):
    if r["kernel"] in ("sparse_mla_fwd", "sparse_mla_bwd"):
        return f's_q {r["s_q"]}, s_kv {r["s_kv"]}, h {r["heads"]}, topk {r["topk"]}, d {r["d_qk"]}/{r["d_v"]}'
    if r["kernel"] == "sampling":
        return f'{r["rows"]} rows x {r["vocab"]} vocab, top_p {r["top_p"]}, kept bits'
    if r["kernel"] == "indexer_selected_fwd_bwd":
        return f'{r["queries"]} queries x top-{r["topk"]} of {r["keys"]} keys, h {r["heads"]} x {r["dim"]}'
    if r["kernel"] == "indexer_topk_decode":
        return f'batch {r["batch"]} x 1 query, {r["keys"]} keys, h {r["heads"]} x {r["dim"]}, topk {r["topk"]}'
    return f'batch {r["batch"]}, seq {r["seq"]}, h {r["heads"]} x {r["dim"]}, topk {r["topk"]}'

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
keys = []
for r in rows:
    if (r["kernel"], shape_of(r)) not in keys: keys.append((r["kernel"], shape_of(r)))
print("| kernel | shape | dsrl ms | dsrl TFLOP/s | eager ms | eager TFLOP/s | speed-up | check | anchor |")
# TFLOP/s columns hold GB/s of keys read for the decode rows (memory-bound).
print("|---|---|---|---|---|---|---|---|---|")
for kernel, shape in keys:
    got = {r["impl"]: r for r in rows if (r["kernel"], shape_of(r)) == (kernel, shape)}
    ours, eager = got.get("dsrl", {}), got.get("eager", {})
    speedup = f'{eager["ms"] / ours["ms"]:.1f}x' if ours and eager else "-"
    check = ours.get("max_diff_vs_eager", ours.get("kth_gap_vs_eager", "-"))
    if "rel_err_vs_eager" in ours: check = f'rel. error {ours["rel_err_vs_eager"]}'
    if "rows_with_equal_kept_sets" in ours: check = f'{ours["rows_with_equal_kept_sets"]}/{ours["rows"]} kept sets equal'
    rate = lambda r: r.get("tflops", f'{r["key_gbps"]} GB/s' if "key_gbps" in r else "-")
    print(f'| {kernel} | {shape} | {ours.get("ms", "-")} | {rate(ours)} | {eager.get("ms", "-")} | '
          f'{rate(eager)} | {speedup} | {check} | {ANCHORS.get((kernel, shape), "")} |')
    if "dsrl_no_split" in got:  # decoding: the same kernel with one CTA per query, no split-KV
        one = got["dsrl_no_split"]
        print(f'| (one CTA per query; dsrl above: {ours.get("splits", "-")} splits) | {shape} | {one["ms"]} | '
              f'{rate(one)} | | | | | |')
    if "dsrl_mma_sync" in got:  # the V3.2 shape on the mma.sync kernel instead of warpgroup MMAs
        one = got["dsrl_mma_sync"]
        print(f'| (mma.sync kernel; dsrl above: wgmma) | {shape} | {one["ms"]} | {one["tflops"]} | | | | | |')
    if "dsrl_fp8" in got:  # the indexer's FP8 kernel (e4m3 operands) beside the bf16 one above
        one = got["dsrl_fp8"]
        fp8_speedup = f'{eager["ms"] / one["ms"]:.1f}x' if eager else "-"
        print(f'| (FP8 e4m3 kernel; dsrl above: bf16) | {shape} | {one["ms"]} | {rate(one)} | | | {fp8_speedup} | '
              f'{one.get("kth_gap_vs_eager", "-")} | |')
        if "logits_only_ms" in one:
            print(f'| (FP8 logits alone) | {shape} | {one["logits_only_ms"]} | {one["logits_only_tflops"]} | | | | | |')
    if "peak_mib" in ours:
        print(f'| (peak memory, MiB) | {shape} | {ours["peak_mib"]} | | {eager.get("peak_mib", "-")} | | | | |')
    if "logits_only_ms" in ours:
        print(f'| (indexer logits alone) | {shape} | {ours["logits_only_ms"]} | {ours["logits_only_tflops"]} | | | | | |')
        print(f'| (top-k alone) | {shape} | {ours["topk_only_ms"]} | | | | | | |')
