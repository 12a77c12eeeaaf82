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

// topk_positions_reference on device pointers: a radix select per row (one block per row, 4 passes of 8 bits)
// and an order-keeping compaction. Any n; k up to 65536. row_ends (optional, [rows]): values of row r at
// row_ends[r] and after are known to be -inf and are not read (the indexer's causal rows).
cudaError_t topk_positions_cuda(const float* logits, int64_t rows, int64_t n, int64_t k, const int32_t* row_ends,
                                int32_t* out, cudaStream_t stream);

}  // namespace dsrl::kernels
