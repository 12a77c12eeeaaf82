// CUDA launcher for moe_combine.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace dsrl::kernels {

// moe_combine_reference on device pointers with bf16 ys, base and out, rounding as the ATen formulation it replaces
// does (each weight to bf16, each product to bf16, their sum in fp32 rounded once, then the base added and rounded).
// One CTA per token, two channels a thread: dim must be even and the bf16 pointers 4-byte aligned; returns
// cudaErrorInvalidValue otherwise, else the launch error.
cudaError_t moe_combine_cuda(const __nv_bfloat16* ys, const int64_t* rows, const float* weights,
                             const __nv_bfloat16* base, __nv_bfloat16* out, int64_t tokens, int64_t k, int64_t dim,
                             cudaStream_t stream);

}  // namespace dsrl::kernels
