// CUDA launchers for indexer.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/indexer.h"

namespace dsrl::kernels {

// indexer_logits_reference on device pointers (bf16 q and k, fp32 w and logits), for the queries
// [s_begin, s_begin + s_count) of every sequence: logits is [batch, s_count, n_keys]. Tensor cores with fp32
// accumulation. cudaErrorInvalidValue when indexer_cuda_supports() is false, else the launch error.
cudaError_t indexer_logits_cuda(const __nv_bfloat16* q, const __nv_bfloat16* k, const float* w,
                                const int32_t* key_end, float* logits, const IndexerShape& shape, int64_t s_begin,
                                int64_t s_count, cudaStream_t stream);

// The same logits from FP8 e4m3 operands (the indexer's FP8 path: Hadamard-rotated rows quantised with one
// power-of-two scale each): q [batch, s_q, heads, dim] and k [batch, n_keys, dim] as e4m3 bytes, k_scale
// [batch, n_keys] fp32, and the query scales folded into w. logits = k_scale[t] * sum_h w[h] * ReLU(q[h] . k[t]),
// which equals indexer_logits_reference on the dequantised values up to the FP8 tensor cores' accumulation (fewer
// bits than fp32; the GPU tests bound the error at 1e-3 of a row's largest logit). k_scale must be positive (it is
// applied after the ReLU). Needs compute capability 8.9+ (cudaErrorNotSupported below: indexer_fp8_device()).
// 64 heads x 128 on compute capability 9.0 run the warpgroup-MMA kernel (indexer_wgmma.cu), other shapes mma.sync
// (half the bf16 kernel's rate on Hopper); `allow_wgmma` false forces mma.sync (the GPU test's comparison).
cudaError_t indexer_logits_fp8_cuda(const uint8_t* q, const uint8_t* k, const float* k_scale, const float* w,
                                    const int32_t* key_end, float* logits, const IndexerShape& shape, int64_t s_begin,
                                    int64_t s_count, cudaStream_t stream, bool allow_wgmma = true);

// Whether this process's device has FP8 MMAs (compute capability 8.9 or later). Asked once.
bool indexer_fp8_device();

// The warpgroup-MMA FP8 kernel alone: whether it runs here (64 heads x 128, compute capability 9.0), and its launch
// (cudaErrorInvalidValue for other shapes).
bool indexer_fp8_wgmma_applies(int64_t heads, int64_t dim);
cudaError_t indexer_logits_fp8_wgmma_cuda(const uint8_t* q, const uint8_t* k, const float* k_scale, const float* w,
                                          const int32_t* key_end, float* logits, const IndexerShape& shape,
                                          int64_t s_begin, int64_t s_count, cudaStream_t stream);

// topk_positions_reference on device pointers: a radix select per row (one block per row, 4 passes of 8 bits)
// and an order-keeping compaction. Any n; k up to 65536. row_ends (optional, [rows]): values of row r at
// row_ends[r] and after are known to be -inf and are not read (the indexer's causal rows).
cudaError_t topk_positions_cuda(const float* logits, int64_t rows, int64_t n, int64_t k, const int32_t* row_ends,
                                int32_t* out, cudaStream_t stream);

}  // namespace dsrl::kernels
