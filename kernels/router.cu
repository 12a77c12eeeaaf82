// Group-limited top-k routing: one warp per token (router_cuda.h).
#include "kernels/router_cuda.h"

namespace dsrl::kernels {
namespace {

constexpr int kWarps = 4;

struct Best {
  float value;
  int index;
};

// a ranks above b: NaN above everything (as ATen's topk ranks it), then by value.
__device__ bool above(float a, float b) { return (isnan(a) && !isnan(b)) || a > b; }

// The better of two candidates, ties to the lower index; index -1 (nothing) loses to anything. A total order, so
// every lane of a butterfly reduction ends with the same answer.
__device__ Best better(Best a, Best b) {
  if (a.index < 0) return b;
  if (b.index < 0) return a;
  if (above(b.value, a.value)) return b;
  if (above(a.value, b.value)) return a;
  return b.index < a.index ? b : a;
}

__device__ Best warp_best(Best b) {
  for (int d = 16; d > 0; d /= 2) {
    const Best other{__shfl_xor_sync(0xffffffffu, b.value, d), __shfl_xor_sync(0xffffffffu, b.index, d)};
    b = better(b, other);
  }
  return b;
}

struct Weights {
  float* out;  // [rows, k] or null: no weights wanted
  bool normalise;
  float scaling;
};

__global__ void route_kernel(const float* scores, const float* bias, int64_t rows, int experts, int groups,
                             int topk_groups, int k, int64_t* ids, Weights weights) {
  __shared__ float biased[kWarps][kRouteMaxExperts];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = blockIdx.x * static_cast<int64_t>(kWarps) + warp;
  if (row >= rows) return;  // whole warps leave together
  float* b = biased[warp];
  for (int e = lane; e < experts; e += 32) b[e] = scores[row * experts + e] + bias[e];
  __syncwarp();
  // Lane g scores group g: the sum of its two best.
  const int per_group = experts / groups;
  Best group{0.f, -1};
  if (lane < groups) {
    Best first{0.f, -1}, second{0.f, -1};
    for (int e = lane * per_group; e < (lane + 1) * per_group; ++e) {
      const Best here{b[e], e};
      if (better(first, here).index == e) second = first, first = here;
      else second = better(second, here);
    }
    group = {first.value + second.value, lane};
  }
  // The topk_groups best groups, one warp-wide argmax at a time.
  bool kept = false;
  for (int i = 0; i < topk_groups; ++i) {
    const Best top = warp_best(kept ? Best{0.f, -1} : group);
    if (lane == top.index) kept = true;
  }
  const unsigned kept_groups = __ballot_sync(0xffffffffu, kept);  // bit g: group g stays (groups <= 32)
  // The k best experts of the kept groups, best first. Lane l owns experts l, l + 32, ...; bit m of `taken` marks
  // its expert l + 32 m as chosen.
  uint32_t taken = 0;
  for (int j = 0; j < k; ++j) {
    Best mine{0.f, -1};
    for (int e = lane, m = 0; e < experts; e += 32, ++m)
      if (((kept_groups >> (e / per_group)) & 1u) && !((taken >> m) & 1u)) mine = better(mine, Best{b[e], e});
    const Best top = warp_best(mine);
    if (lane == 0) ids[row * k + j] = top.index;
    if (lane == top.index % 32) taken |= 1u << (top.index / 32);
  }
  if (weights.out != nullptr && lane == 0) {  // as route_weights_reference, in the same order
    float* w = weights.out + row * k;
    float sum = 0.f;
    for (int j = 0; j < k; ++j) sum += (w[j] = scores[row * experts + ids[row * k + j]]);
    for (int j = 0; j < k; ++j) w[j] = (weights.normalise ? __fdiv_rn(w[j], sum + 1e-20f) : w[j]) * weights.scaling;
  }
}

}  // namespace

cudaError_t route_topk_cuda(const float* scores, const float* bias, int64_t rows, int64_t experts, int64_t groups,
                            int64_t topk_groups, int64_t k, int64_t* ids, cudaStream_t stream, float* weights,
                            bool normalise, float scaling) {
  if (rows < 0 || !route_kernel_takes(experts, groups, topk_groups, k)) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  route_kernel<<<static_cast<unsigned>(blocks), kWarps * 32, 0, stream>>>(
      scores, bias, rows, static_cast<int>(experts), static_cast<int>(groups), static_cast<int>(topk_groups),
      static_cast<int>(k), ids, Weights{weights, normalise, scaling});
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
