// CUDA launchers for indexer_selected.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/indexer_selected.h"

namespace dsrl::kernels {

// selected_scores_reference on device pointers: bf16 q and keys, fp32 w and scores. One CTA per query over all its
// heads; the selected key rows are gathered in blocks of 32 with cp.async; tensor cores with fp32 accumulation.
// cudaErrorInvalidValue when selected_scores_cuda_supports() is false, else the launch error.
cudaError_t selected_scores_cuda(const __nv_bfloat16* q, const float* w, const __nv_bfloat16* keys,
                                 const int32_t* sel, float* scores, const SelectedScoresShape& shape,
                                 cudaStream_t stream);

// selected_scores_backward_reference on device pointers: dq in bf16, dw and dkeys in fp32. dkeys is zeroed here,
// then accumulated with atomics (its last bits vary from run to run); the per-key gradients are rounded to bf16 for
// the tensor-core products.
cudaError_t selected_scores_backward_cuda(const __nv_bfloat16* q, const float* w, const __nv_bfloat16* keys,
                                          const int32_t* sel, const float* dscores, __nv_bfloat16* dq, float* dw,
                                          float* dkeys, const SelectedScoresShape& shape, cudaStream_t stream);

}  // namespace dsrl::kernels
