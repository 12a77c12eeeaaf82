// The model's RMSNorm layer as one fused op (kernels/rmsnorm.h): y = weight * (x / sqrt(mean(x^2) + eps)), the
// normalised x cast back to x's dtype before the weight (as HF). model/layers.cpp runs rms_norm_layer.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace dsrl {

// The layer in ATen ops (autograd through them): the definition the fused paths are checked against.
at::Tensor rms_norm_eager(const at::Tensor& x, const at::Tensor& weight, double eps);

// Gradients of the layer for dy (x's shape): {dx in x's dtype, dweight in weight's dtype}. CUDA: bf16 x, weight and
// dy (rms_norm_kernel_applies) on the kernel; CPU: fp32 on the C++ reference.
std::pair<at::Tensor, at::Tensor> rms_norm_backward(const at::Tensor& x, const at::Tensor& weight,
                                                    const at::Tensor& dy, double eps);

// The layer as an autograd op over the fused forward and rms_norm_backward: bf16 CUDA tensors on the kernels, fp32
// CPU tensors on the C++ references (same checks as rms_norm_backward).
at::Tensor rms_norm_fused(const at::Tensor& x, const at::Tensor& weight, double eps);

// What the model runs: rms_norm_fused where rms_norm_kernel_applies, rms_norm_eager otherwise (the CPU included).
at::Tensor rms_norm_layer(const at::Tensor& x, const at::Tensor& weight, double eps);

// Whether the CUDA kernels take this x and weight: a CUDA build, bf16 on one GPU, an even last dim up to 8192.
bool rms_norm_kernel_applies(const at::Tensor& x, const at::Tensor& weight);

}  // namespace dsrl
