// Internal to the kernel wrappers (model/kernel_ops.cpp, model/indexer_selected_ops.cpp), CUDA builds only: the
// raw pointers the launchers take.
#pragma once

#include <ATen/core/Tensor.h>
#include <cuda_bf16.h>

#include <cstdint>

namespace dsrl::cuda_tensor {

// Contiguous, with a data pointer on a 16-byte boundary (the kernels copy rows in 16-byte pieces; a view can start
// anywhere).
inline at::Tensor aligned_contiguous(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return reinterpret_cast<uintptr_t>(c.data_ptr()) % 16 == 0 ? c : c.clone();
}

inline const __nv_bfloat16* bf16_ptr(const at::Tensor& t) {
  return reinterpret_cast<const __nv_bfloat16*>(t.data_ptr());
}
inline __nv_bfloat16* bf16_mut_ptr(at::Tensor& t) { return reinterpret_cast<__nv_bfloat16*>(t.data_ptr()); }

}  // namespace dsrl::cuda_tensor
