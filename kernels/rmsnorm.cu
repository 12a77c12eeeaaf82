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

// The bf16 layer: one warp per row, each lane taking pairs lane, lane + 32, ... of the row.
using bf162 = __nv_bfloat162;
constexpr int kRowsPerBlock = 8;     // forward: warps per block, one row each
constexpr int kBackwardWarps = 4;    // backward: warps per block, each striding over rows
constexpr int kBackwardBlocks = 264;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float2 mul_rounded(float2 a, float2 b) {  // bf16(a * b), back in fp32
  return __bfloat1622float2(__floats2bfloat162_rn(a.x * b.x, a.y * b.y));
}

__global__ void __launch_bounds__(32 * kRowsPerBlock) rms_norm_bf16_kernel(const bf162* __restrict__ x,
                                                                          const bf162* __restrict__ weight, bf162* y,
                                                                          int64_t rows, int pairs, float eps) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const bf162* xr = x + row * pairs;
  float sum_sq = 0.f;
  for (int p = lane; p < pairs; p += 32) {
    const float2 v = __bfloat1622float2(xr[p]);
    sum_sq += v.x * v.x + v.y * v.y;
  }
  const float r = rsqrtf(warp_sum(sum_sq) / (2 * pairs) + eps);
  for (int p = lane; p < pairs; p += 32) {
    const float2 n = mul_rounded(__bfloat1622float2(xr[p]), make_float2(r, r));
    const float2 w = __bfloat1622float2(weight[p]);
    y[row * pairs + p] = __floats2bfloat162_rn(w.x * n.x, w.y * n.y);
  }
}

// Each warp walks rows warp_id, warp_id + total_warps, ...: a first pass gives r and sum(dn * x), a second writes
// dx and adds dy * n into the warp's own fp32 row of dweight in shared memory; the block's warps are then summed
// into its row of dweight_parts.
__global__ void __launch_bounds__(32 * kBackwardWarps) rms_norm_bf16_backward_kernel(
    const bf162* __restrict__ x, const bf162* __restrict__ weight, const bf162* __restrict__ dy, bf162* dx,
    float* dweight_parts, int64_t rows, int pairs, float eps) {
  extern __shared__ float2 dweight_s[];  // [kBackwardWarps, pairs]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float2* mine = dweight_s + warp * pairs;
  for (int p = lane; p < pairs; p += 32) mine[p] = make_float2(0.f, 0.f);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kBackwardWarps;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kBackwardWarps + warp; row < rows; row += stride) {
    const bf162 *xr = x + row * pairs, *dyr = dy + row * pairs;
    float sum_sq = 0.f, dot = 0.f;
    for (int p = lane; p < pairs; p += 32) {
      const float2 v = __bfloat1622float2(xr[p]);
      const float2 dn = mul_rounded(__bfloat1622float2(dyr[p]), __bfloat1622float2(weight[p]));
      sum_sq += v.x * v.x + v.y * v.y;
      dot += dn.x * v.x + dn.y * v.y;
    }
    const float r = rsqrtf(warp_sum(sum_sq) / (2 * pairs) + eps);
    const float along_x = r * r * r * warp_sum(dot) / (2 * pairs);
    for (int p = lane; p < pairs; p += 32) {
      const float2 v = __bfloat1622float2(xr[p]), g = __bfloat1622float2(dyr[p]);
      const float2 dn = mul_rounded(g, __bfloat1622float2(weight[p]));
      dx[row * pairs + p] = __floats2bfloat162_rn(r * dn.x - v.x * along_x, r * dn.y - v.y * along_x);
      const float2 n = mul_rounded(v, make_float2(r, r));
      mine[p].x += g.x * n.x;
      mine[p].y += g.y * n.y;
    }
  }
  __syncthreads();
  float2* out = reinterpret_cast<float2*>(dweight_parts) + static_cast<int64_t>(blockIdx.x) * pairs;
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
    float2 total = make_float2(0.f, 0.f);
    for (int w = 0; w < kBackwardWarps; ++w) {
      total.x += dweight_s[w * pairs + p].x;
      total.y += dweight_s[w * pairs + p].y;
    }
    out[p] = total;
  }
}

bool bf16_shape_ok(int64_t dim) { return dim > 0 && dim % 2 == 0 && dim <= kRmsNormMaxDim; }

}  // namespace

cudaError_t rms_norm_cuda(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps,
                          cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, y, dim, eps);
  return cudaGetLastError();
}

cudaError_t rms_norm_bf16_cuda(const __nv_bfloat16* x, const __nv_bfloat16* weight, __nv_bfloat16* y, int64_t rows,
                               int64_t dim, float eps, cudaStream_t stream) {
  if (!bf16_shape_ok(dim) || rows < 0) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  rms_norm_bf16_kernel<<<static_cast<unsigned>(blocks), 32 * kRowsPerBlock, 0, stream>>>(
      reinterpret_cast<const bf162*>(x), reinterpret_cast<const bf162*>(weight), reinterpret_cast<bf162*>(y), rows,
      static_cast<int>(dim / 2), eps);
  return cudaGetLastError();
}

int64_t rms_norm_backward_parts(int64_t rows) {
  const int64_t blocks = (rows + kBackwardWarps - 1) / kBackwardWarps;
  return blocks < 1 ? 1 : blocks < kBackwardBlocks ? blocks : kBackwardBlocks;
}

cudaError_t rms_norm_bf16_backward_cuda(const __nv_bfloat16* x, const __nv_bfloat16* weight,
                                        const __nv_bfloat16* dy, __nv_bfloat16* dx, float* dweight_parts,
                                        int64_t rows, int64_t dim, float eps, cudaStream_t stream) {
  if (!bf16_shape_ok(dim) || rows < 0) return cudaErrorInvalidValue;
  // Shared memory past the default 48 KiB (dims above 3072) needs an opt-in, asked for at the size this call needs;
  // it is a property of the kernel on the current device (dsrl runs one GPU per process).
  const int smem = static_cast<int>(kBackwardWarps * dim * 4);
  if (smem > 48 * 1024) {
    const cudaError_t attribute =
        cudaFuncSetAttribute(rms_norm_bf16_backward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (attribute != cudaSuccess) return attribute;
  }
  const int64_t parts = rms_norm_backward_parts(rows);
  rms_norm_bf16_backward_kernel<<<static_cast<unsigned>(parts), 32 * kBackwardWarps, smem, stream>>>(
      reinterpret_cast<const bf162*>(x), reinterpret_cast<const bf162*>(weight), reinterpret_cast<const bf162*>(dy),
      reinterpret_cast<bf162*>(dx), dweight_parts, rows, static_cast<int>(dim / 2), eps);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
