// Internal to the kernel wrappers (model/kernel_ops.cpp, model/indexer_selected_ops.cpp): the int32 row lists the
// kernels and references take, and (CUDA builds) the raw pointers the launchers take.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#ifdef DSRL_CUDA
#include <cuda_bf16.h>
#endif

namespace dsrl::kernel_tensors {

// Rows of a table of n_rows as int32: int64 rows outside [0, n_rows) become "none" first, so none wraps into a
// valid-looking row.
inline at::Tensor int32_rows(const at::Tensor& rows, int64_t n_rows) {
  return rows.scalar_type() == at::kLong ? rows.clamp(-1, n_rows).to(at::kInt).contiguous() : rows.contiguous();
}

#ifdef DSRL_CUDA

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
#endif

}  // namespace dsrl::kernel_tensors
