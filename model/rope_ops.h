// The model's rotary embedding (model/layers.h's rope_interleaved and rope_half) as one fused op on bf16 CUDA
// tensors (kernels/rope.h): the eager formulation takes nine kernels per call (two casts, six products and sums, a
// stack), four calls per layer, which in a CUDA-graph decode step of a small model cost more than the arithmetic.
#pragma once

#include <ATen/core/Tensor.h>

namespace dsrl {

enum class RopeLayout { kInterleaved, kHalf };  // pairs (x[2i], x[2i+1]) or (x[i], x[i + R/2])

// The definition in ATen ops (autograd through them): cos/sin [B, S, R/2] cast to x's dtype and broadcast over
// x [B, S, R] or [B, S, H, R]; (a, b) -> (a c - b s, b c + a s).
at::Tensor rope_eager(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout);

// The same on the kernel, with autograd (the backward is the inverse rotation, on the same kernel). Needs
// rope_kernel_applies; the output is contiguous.
at::Tensor rope_fused(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout);

// What the model runs: rope_fused where rope_kernel_applies, rope_eager otherwise (the CPU included).
at::Tensor rope_layer(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout);

// A CUDA build, x bf16 [B, S, R] or [B, S, H, R] with R even, its last dim contiguous and at least one element,
// cos and sin fp32 [B, S, R/2] on x's GPU, not requiring grad.
bool rope_kernel_applies(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace dsrl
