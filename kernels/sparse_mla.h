// Sparse MLA attention forward in MQA ("absorbed") mode, the attention of DeepSeek Sparse Attention:
// every query head attends to the same selected rows of one shared latent key/value table.
//
//   q:       [s_q, heads, d_qk]   absorbed queries (latent part then rope part)
//   kv:      [n_kv, d_qk]         rows [c_kv, k_pe]; the first d_v channels of a row are its value
//   indices: [s_q, topk] int32    rows of kv each query attends to; any value outside [0, n_kv) selects nothing
//   out:     [s_q, heads, d_v]    softmax(scale * q . kv[idx]) @ kv[idx, :d_v]
//   lse:     [s_q, heads]         natural-log log-sum-exp of the scaled scores (-inf where nothing is selected,
//                                 and out is 0 there)
// Plain C++ reference here (fp32, double accumulation); the CUDA launcher is in sparse_mla_cuda.h and the
// at::Tensor wrapper in model/kernel_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

struct SparseMlaShape {
  int64_t s_q = 0;    // queries
  int64_t heads = 0;  // query heads, all sharing kv
  int64_t n_kv = 0;   // rows of kv
  int64_t d_qk = 0;   // channels of q and of a kv row
  int64_t d_v = 0;    // value channels: the first d_v of a kv row (d_v <= d_qk)
  int64_t topk = 0;   // selected rows per query
};

void sparse_mla_forward_reference(const float* q, const float* kv, const int32_t* indices, float* out, float* lse,
                                  const SparseMlaShape& shape, float scale);

// Gradients of sparse_mla_forward_reference for the output gradient dout [s_q, heads, d_v], given that call's out
// and lse:
//   p = exp(scale * q . kv[idx] - lse),  dp = dout . kv[idx, :d_v],  ds = scale * p * (dp - rowsum(out * dout))
//   dq = sum_j ds_j kv[idx_j];  dkv[idx_j] += ds_j q (+ p_j dout on the first d_v channels), over queries and heads.
// dq: [s_q, heads, d_qk]; dkv: [n_kv, d_qk], overwritten (rows nobody selected get zeros).
void sparse_mla_backward_reference(const float* q, const float* kv, const int32_t* indices, const float* out,
                                   const float* dout, const float* lse, float* dq, float* dkv,
                                   const SparseMlaShape& shape, float scale);

// Whether the CUDA kernels (forward and backward) have an instantiation for these sizes (heads a multiple of 16; (d_qk, d_v) one of
// (576, 512), the V3.2 shape, or (288, 256), the 286M benchmark model's).
bool sparse_mla_cuda_supports(int64_t heads, int64_t d_qk, int64_t d_v);

}  // namespace dsrl::kernels
