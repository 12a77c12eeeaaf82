// at::Tensor wrappers around kernels/: check shapes, dtypes and devices, then call the CUDA launcher (CUDA
// tensors, -DDSRL_CUDA=ON builds) or the C++ reference (CPU tensors).
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>
#include <utility>

namespace dsrl {

// x: [..., D] fp32; weight: [D] fp32 on x's device. Returns y with x's shape.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Sparse MQA attention forward (kernels/sparse_mla.h). q: [N, H, d_qk]; kv: [T, d_qk]; indices: [N, K] int32 or
// int64 rows of kv (-1 = none); the first d_v channels of a kv row are its value. CUDA tensors run the kernel
// (bf16, shapes sparse_mla_cuda_supports accepts); CPU tensors run the C++ reference in fp32.
// Returns {out [N, H, d_v] in q's dtype, lse [N, H] fp32 natural-log log-sum-exp, -inf where nothing is selected}.
// `splits` (CUDA only): parts each query's selection is divided into (split-KV, for decoding); 0 picks what fills
// the GPU (kernels::sparse_mla_forward_splits: 1 unless there are few queries), 1 turns splitting off.
std::pair<at::Tensor, at::Tensor> sparse_mla_forward(const at::Tensor& q, const at::Tensor& kv,
                                                     const at::Tensor& indices, int64_t d_v, double scale,
                                                     int64_t splits = 0);
// Gradients of sparse_mla_forward for dout [N, H, d_v], given that call's out and lse (same inputs):
// {dq [N, H, d_qk] in q's dtype, dkv [T, d_qk] in kv's dtype}. CUDA tensors run the tensor-core kernel (same shapes
// as the forward; dkv is summed with fp32 atomics, so its last bits vary between runs); CPU the C++ reference.
std::pair<at::Tensor, at::Tensor> sparse_mla_backward(const at::Tensor& q, const at::Tensor& kv,
                                                      const at::Tensor& indices, const at::Tensor& out,
                                                      const at::Tensor& lse, const at::Tensor& dout, int64_t d_v,
                                                      double scale);
// sparse_mla_forward as an autograd op: returns out [N, H, d_v]; gradients reach q and kv through
// sparse_mla_backward.
at::Tensor sparse_mla_attention(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& indices, int64_t d_v,
                                double scale);
// Whether sparse_mla_forward would run the CUDA kernel for this query (a CUDA bf16 tensor in a CUDA build, and a
// supported shape).
bool sparse_mla_kernel_applies(const at::Tensor& q, int64_t d_v);

// Lightning-indexer logits (kernels/indexer.h). q: [B, S, H, D], k: [B, T, D], w: [B, S, H] (fp32),
// key_end: [B, S] int32/int64, keys [0, key_end) visible. Returns [B, S, T] fp32 with -inf past key_end.
// FP8: q and k as kFloat8_e4m3fn with k_scale [B, T] fp32 (each key's positive power-of-two scale; the queries'
// scales folded into w), as fp8_e4m3_quantize makes them; k_scale is left undefined otherwise.
// CUDA: bf16 or e4m3 q and k, shapes indexer_cuda_supports accepts; CPU: the C++ reference in fp32.
at::Tensor indexer_logits(const at::Tensor& q, const at::Tensor& k, const at::Tensor& w, const at::Tensor& key_end,
                          const at::Tensor& k_scale = {});
// Positions of the k largest values > -inf of each row of logits [..., n] (ties to the lower position), ascending,
// -1 for the slots left: [..., k] int32. CUDA: the radix-select kernel; CPU: the C++ reference.
at::Tensor topk_positions(const at::Tensor& logits, int64_t k);
// The indexer's selection without storing [B, S, T]: logits and top-k over chunks of queries (CUDA only; same
// arguments as indexer_logits). Returns [B, S, k] int32 as topk_positions would.
at::Tensor indexer_topk(const at::Tensor& q, const at::Tensor& k, const at::Tensor& w, const at::Tensor& key_end,
                        int64_t topk, const at::Tensor& k_scale = {});
// Whether indexer_logits / indexer_topk would run the CUDA kernels for this q ([..., H, D], bf16, or e4m3 on a
// device with FP8 MMAs: compute capability 8.9+).
bool indexer_kernel_applies(const at::Tensor& q);

// The indexer's scores over each query's selected keys (kernels/indexer_selected.h; model/indexer_selected_ops.cpp):
// q [N, H, D], w [N, H] fp32 (scales folded in), keys [T, D], sel [N, K] int32/int64 rows of keys (-1 = none).
// Returns scores [N, K] fp32, -inf where sel names no row. CUDA: bf16 q and keys, shapes
// selected_scores_cuda_supports accepts; CPU: the C++ references in fp32.
at::Tensor selected_scores_forward(const at::Tensor& q, const at::Tensor& w, const at::Tensor& keys,
                                   const at::Tensor& sel);
// Its gradients for dscores [N, K]: {dq in q's dtype, dw fp32, dkeys in keys' dtype (CUDA: summed with fp32
// atomics, so its last bits vary between runs)}.
std::tuple<at::Tensor, at::Tensor, at::Tensor> selected_scores_backward(const at::Tensor& q, const at::Tensor& w,
                                                                        const at::Tensor& keys, const at::Tensor& sel,
                                                                        const at::Tensor& dscores);
// The two as an autograd op (gradients reach q, w and keys): sparse training's indexer KL on the GPU.
at::Tensor indexer_selected_scores(const at::Tensor& q, const at::Tensor& w, const at::Tensor& keys,
                                   const at::Tensor& sel);
// Whether selected_scores_forward would run the CUDA kernel for this q ([..., H, D]).
bool selected_scores_kernel_applies(const at::Tensor& q);

// Sparse training's indexer-KL target over the selected keys (kernels/attention_target.h), without the
// [B, S, H, T] scores: q [B, S, H, W] absorbed queries, kv [B, T, W], key_end [B, S] (a query's causal keys are
// [0, key_end), clamped to [0, T]), topk [B, S, K] key positions (an entry outside [0, key_end) selects nothing);
// key_end and topk int32 or int64. scale: the attention's softmax scale. CUDA: bf16 q and kv, shapes
// selected_target_cuda_supports accepts; CPU: the C++ reference in fp32.
struct SelectedTarget {
  at::Tensor probs;         // [B, S, K] fp32: head-averaged attention probabilities over the selected keys
  at::Tensor recall;        // [B, S] fp32: the selected keys' share of the causal attention mass, head-averaged
  at::Tensor lse_causal;    // [B, S, H] fp32 log-sum-exp of the scaled scores over the causal keys
  at::Tensor lse_selected;  // [B, S, H] fp32 over the selected ones (-inf where none)
};
SelectedTarget selected_target_forward(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& key_end,
                                       const at::Tensor& topk, double scale);
// Whether selected_target_forward would run the CUDA kernels for this q ([..., H, W]) and kv.
bool selected_target_kernel_applies(const at::Tensor& q, const at::Tensor& kv);

// Fused sampling (kernels/sampling.h): one token per row of logits [B, V] (any float dtype), each drawn by inverse
// CDF from its uniform in [0, 1) (uniforms [B] fp64, any device). CUDA logits run the kernel, CPU ones the C++
// reference. Same parameters and checks as model/sampling.h.
struct SampledBits {
  at::Tensor tokens;     // [B] int64
  at::Tensor logprobs;   // [B] fp32, under the kept set renormalised
  at::Tensor kept_bits;  // [B, (V + 7) / 8] uint8, token j at bit j % 8 of byte j / 8
};
SampledBits sample_fused(const at::Tensor& logits, const at::Tensor& uniforms, double temperature, int64_t top_k,
                         double top_p, int64_t vocab_limit);

// True when this build has CUDA kernels (DSRL_CUDA) and a GPU is visible.
bool cuda_kernels_available();

}  // namespace dsrl
