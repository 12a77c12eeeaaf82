#include "kernels/rmsnorm_cuda.h"

namespace dsrl::kernels {
namespace {

constexpr int kThreads = 256;

// One block per row: a block-wide sum of squares (fp32 partials, shared-memory tree), then scale.
__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ weight, float* y,
                                int64_t dim, float eps) {
  __shared__ float partial[kThreads];
  const float* xr = x + blockIdx.x * dim;
  float* yr = y + blockIdx.x * dim;
  float sum_sq = 0.f;
  for (int64_t j = threadIdx.x; j < dim; j += kThreads) sum_sq += xr[j] * xr[j];
  partial[threadIdx.x] = sum_sq;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  const float inv_rms = rsqrtf(partial[0] / static_cast<float>(dim) + eps);
  for (int64_t j = threadIdx.x; j < dim; j += kThreads) yr[j] = xr[j] * inv_rms * weight[j];
}

}  // namespace

cudaError_t rms_norm_cuda(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps,
                          cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, y, dim, eps);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
