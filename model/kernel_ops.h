// at::Tensor wrappers around kernels/: check shapes, dtypes and devices, then call the CUDA launcher (CUDA
// tensors, -DDSRL_CUDA=ON builds) or the C++ reference (CPU tensors).
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace dsrl {

// x: [..., D] fp32; weight: [D] fp32 on x's device. Returns y with x's shape.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Sparse MQA attention forward (kernels/sparse_mla.h). q: [N, H, d_qk]; kv: [T, d_qk]; indices: [N, K] int32 or
// int64 rows of kv (-1 = none); the first d_v channels of a kv row are its value. CUDA tensors run the kernel
// (bf16, shapes sparse_mla_cuda_supports accepts); CPU tensors run the C++ reference in fp32.
// Returns {out [N, H, d_v] in q's dtype, lse [N, H] fp32 natural-log log-sum-exp, -inf where nothing is selected}.
std::pair<at::Tensor, at::Tensor> sparse_mla_forward(const at::Tensor& q, const at::Tensor& kv,
                                                     const at::Tensor& indices, int64_t d_v, double scale);
// Whether sparse_mla_forward would run the CUDA kernel for this query (a CUDA bf16 tensor in a CUDA build, and a
// supported shape).
bool sparse_mla_kernel_applies(const at::Tensor& q, int64_t d_v);

// True when this build has CUDA kernels (DSRL_CUDA) and a GPU is visible.
bool cuda_kernels_available();

}  // namespace dsrl
