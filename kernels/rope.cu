// RoPE on bf16: one thread per (row, head, pair), the eager formulation's roundings (rope_cuda.h).
#include "kernels/rope_cuda.h"

namespace dsrl::kernels {
namespace {

struct Args {
  const __nv_bfloat16* x;
  int64_t row_stride, head_stride;
  const float *cos, *sin;
  __nv_bfloat16* out;
  int64_t rows, heads, dim;
  bool interleaved, inverse;
};

__device__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

__global__ void rope_kernel(Args a) {
  const int64_t half = a.dim / 2, pairs = a.rows * a.heads * half;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < pairs;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = p % half, rh = p / half, h = rh % a.heads, r = rh / a.heads;
    const int64_t ia = a.interleaved ? 2 * i : i, ib = a.interleaved ? 2 * i + 1 : i + half;
    const __nv_bfloat16* xh = a.x + r * a.row_stride + h * a.head_stride;
    const float x0 = __bfloat162float(xh[ia]), x1 = __bfloat162float(xh[ib]);
    const float c = round_bf16(a.cos[r * half + i]), s = round_bf16(a.sin[r * half + i]) * (a.inverse ? -1.f : 1.f);
    __nv_bfloat16* oh = a.out + rh * a.dim;
    oh[ia] = __float2bfloat16(round_bf16(x0 * c) - round_bf16(x1 * s));
    oh[ib] = __float2bfloat16(round_bf16(x1 * c) + round_bf16(x0 * s));
  }
}

}  // namespace

cudaError_t rope_bf16_cuda(const __nv_bfloat16* x, int64_t row_stride, int64_t head_stride, const float* cos,
                           const float* sin, __nv_bfloat16* out, int64_t rows, int64_t heads, int64_t dim,
                           bool interleaved, bool inverse, cudaStream_t stream) {
  if (rows < 0 || heads < 1 || dim < 2 || dim % 2 != 0) return cudaErrorInvalidValue;
  const int64_t pairs = rows * heads * (dim / 2);
  if (pairs == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const int64_t blocks = (pairs + kThreads - 1) / kThreads;
  const Args a{x, row_stride, head_stride, cos, sin, out, rows, heads, dim, interleaved, inverse};
  rope_kernel<<<static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
