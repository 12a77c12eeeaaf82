// CUDA launcher for attention_target.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/attention_target.h"

namespace dsrl::kernels {

// selected_target_reference on device pointers: bf16 q and kv, fp32 outputs. Two kernels on tensor cores (mma.sync,
// fp32 scores and sums):
//   1. the causal log-sum-exp: a CTA takes 128 consecutive (query, head) rows of a sequence, which share its keys,
//      and scans the keys up to its last row's key_end in blocks (double-buffered cp.async);
//   2. the selected keys: a CTA per query and group of 16, 32 or 64 heads gathers the selected rows in blocks of 64
//      for the log-sum-exp over them, keeping the scores in shared memory where they fit (48 KB); otherwise it
//      walks the rows a second time for the head-summed probabilities.
// The outputs are zeroed first. When a query's heads take several CTAs (heads not 16, 32 or a multiple of 64: 48
// runs as three CTAs of 16, 128 as two of 64) they add into probs and recall with fp32 atomics, so their last bits
// vary from run to run; otherwise the results are the same every run (on the second walk two warps add into each
// probability, two terms onto zero).
// cudaErrorInvalidValue when selected_target_cuda_supports() is false, a size exceeds the kernels' int32 indexing
// or batch exceeds 65,535; else the first launch error.
cudaError_t selected_target_cuda(const __nv_bfloat16* q, const __nv_bfloat16* kv, const int32_t* key_end,
                                 const int32_t* sel, const SelectedTargetOut& out, const SelectedTargetShape& shape,
                                 float scale, cudaStream_t stream);

}  // namespace dsrl::kernels
