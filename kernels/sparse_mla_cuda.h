// CUDA launcher for sparse_mla.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/sparse_mla.h"

namespace dsrl::kernels {

// Which forward kernel takes the V3.2 shape (d_qk 576, heads a multiple of 64): kAuto picks the one on Hopper's
// warpgroup MMAs (sparse_mla_wgmma.cu) on a compute capability 9.0 device; kMmaSync forces the mma.sync kernel that
// every other shape (and device) runs, for comparison in benchmarks and tests.
enum class SparseMlaForwardKernel { kAuto, kMmaSync };

// Same contract as sparse_mla_forward_reference, on device pointers, bf16 q/kv/out and fp32 lse. Tensor cores
// (wgmma at the V3.2 shape, mma.sync m16n8k16 otherwise), fp32 scores and softmax, probabilities rounded to bf16
// for the value product.
// Split-KV (for decoding, where few queries leave SMs idle): with splits > 1 each query's selection is divided
// among `splits` CTAs whose normalised parts go to the fp32 scratch part_out [s_q, splits, heads, d_v] and
// part_lse [s_q, splits, heads]; a second kernel merges them by their log-sum-exp. Returns cudaErrorInvalidValue
// when sparse_mla_cuda_supports() is false for the shape, splits is outside [1, 64] or the scratch is missing,
// else the launch error.
cudaError_t sparse_mla_forward_cuda(const __nv_bfloat16* q, const __nv_bfloat16* kv, const int32_t* indices,
                                    __nv_bfloat16* out, float* lse, const SparseMlaShape& shape, float scale,
                                    cudaStream_t stream, int splits = 1, float* part_out = nullptr,
                                    float* part_lse = nullptr,
                                    SparseMlaForwardKernel kernel = SparseMlaForwardKernel::kAuto);

// How many splits fill one wave of the current device's SMs for this shape: 1 when the queries alone fill half of
// them (prefill, training), more for a few queries over a long selection, each part keeping at least 256 rows;
// at most 64.
int sparse_mla_forward_splits(const SparseMlaShape& shape);

// Same contract as sparse_mla_backward_reference, on device pointers: bf16 q, kv, out, dout and dq, fp32 lse (from
// the forward) and dkv (zeroed here, then accumulated with atomics, so the sum order and its last bits vary from
// run to run). P and dS are rounded to bf16 for the tensor-core products. Returns cudaErrorInvalidValue when
// sparse_mla_cuda_supports() is false for the shape, else the first launch error.
cudaError_t sparse_mla_backward_cuda(const __nv_bfloat16* q, const __nv_bfloat16* kv, const int32_t* indices,
                                     const __nv_bfloat16* out, const __nv_bfloat16* dout, const float* lse,
                                     __nv_bfloat16* dq, float* dkv, const SparseMlaShape& shape, float scale,
                                     cudaStream_t stream);

}  // namespace dsrl::kernels
