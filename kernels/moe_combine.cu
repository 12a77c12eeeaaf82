// MoE combine: one CTA per token (moe_combine_cuda.h).
#include "kernels/moe_combine_cuda.h"

#include <algorithm>

namespace dsrl::kernels {
namespace {

__global__ void moe_combine_kernel(const __nv_bfloat162* ys, const int64_t* rows, const float* weights,
                                   const __nv_bfloat162* base, __nv_bfloat162* out, int k, int64_t pairs) {
  const int64_t t = blockIdx.x;
  for (int64_t c = threadIdx.x; c < pairs; c += blockDim.x) {
    float2 sum = make_float2(0.f, 0.f);
    for (int j = 0; j < k; ++j) {
      const float w = __bfloat162float(__float2bfloat16(weights[t * k + j]));  // the weight in ys' dtype
      const float2 y = __bfloat1622float2(ys[rows[t * k + j] * pairs + c]);
      const float2 p = __bfloat1622float2(__floats2bfloat162_rn(y.x * w, y.y * w));  // the bf16 product
      sum.x += p.x, sum.y += p.y;
    }
    float2 o = __bfloat1622float2(__floats2bfloat162_rn(sum.x, sum.y));  // the bf16 sum over k
    if (base) {
      const float2 b = __bfloat1622float2(base[t * pairs + c]);
      o.x += b.x, o.y += b.y;
    }
    out[t * pairs + c] = __floats2bfloat162_rn(o.x, o.y);
  }
}

}  // namespace

cudaError_t moe_combine_cuda(const __nv_bfloat16* ys, const int64_t* rows, const float* weights,
                             const __nv_bfloat16* base, __nv_bfloat16* out, int64_t tokens, int64_t k, int64_t dim,
                             cudaStream_t stream) {
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 4 == 0; };
  if (tokens < 0 || k < 1 || k > (1 << 20) || dim < 2 || dim % 2 != 0 || tokens > 0x7fffffff || !aligned(ys) ||
      !aligned(out) || (base && !aligned(base)))
    return cudaErrorInvalidValue;
  if (tokens == 0) return cudaSuccess;
  const int64_t pairs = dim / 2;
  const int threads = static_cast<int>(std::min<int64_t>(256, (pairs + 31) / 32 * 32));
  moe_combine_kernel<<<static_cast<unsigned>(tokens), threads, 0, stream>>>(
      reinterpret_cast<const __nv_bfloat162*>(ys), rows, weights, reinterpret_cast<const __nv_bfloat162*>(base),
      reinterpret_cast<__nv_bfloat162*>(out), static_cast<int>(k), pairs);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
