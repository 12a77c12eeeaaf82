// Pieces of the radix selects (indexer top-k, sampling's top-k and nucleus): float -> ordered unsigned keys, and
// the search of a 256-bin histogram from its largest bin down.
#pragma once

#include <cstdint>

namespace dsrl::kernels::radix {

constexpr uint32_t kMinusInfKey = 0x007fffffu;  // order_key(-inf)
constexpr uint32_t kPlusInfKey = 0xff800000u;   // order_key(+inf); NaNs map above it or below -inf

// Unsigned keys that sort like the floats: negative values have every bit flipped, others the sign bit set.
// -0 becomes +0 first: the two compare equal, so they must tie (and go to the lower position) as in the references.
__device__ __forceinline__ uint32_t order_key(float x) {
  const uint32_t bits = __float_as_uint(x == 0.f ? 0.f : x);
  return bits ^ ((bits >> 31) ? 0xffffffffu : 0x80000000u);
}

// A value that takes part in a selection: > -inf and not NaN.
__device__ __forceinline__ bool present(uint32_t key) { return key > kMinusInfKey && key <= kPlusInfKey; }

// Run by one whole warp. From a 256-bin histogram (of counts or of probability mass; the largest keys in bin 255),
// the bin where the running total from the top first reaches `need`, and the total of the bins above it. Each lane
// sums 8 bins, then a warp scan. Floating-point totals can fall a rounding short of `need`: then the lowest
// non-empty bin of the lane is taken. A bin is always written, by exactly one lane.
template <class T>
__device__ void find_bin(const T* hist, T need, uint32_t* bin, T* above) {
  const int lane = threadIdx.x % 32;
  T local = 0;
  for (int i = 0; i < 8; ++i) local += hist[255 - (lane * 8 + i)];
  T inclusive = local;
  for (int d = 1; d < 32; d *= 2) {
    const T v = __shfl_up_sync(0xffffffffu, inclusive, d);
    if (lane >= d) inclusive += v;
  }
  const T total = __shfl_sync(0xffffffffu, inclusive, 31);
  if (total < need) need = total;
  // The previous lane's inclusive total itself (not inclusive - local, which can differ by a rounding), so that
  // the lanes' ranges (before, inclusive] tile [0, total] and exactly one lane holds `need`.
  T before = __shfl_up_sync(0xffffffffu, inclusive, 1);
  if (lane == 0) before = 0;
  if (lane == 0) {  // never left unwritten: one lane below overwrites this whenever need is in (0, total]
    *bin = 255;
    *above = 0;
  }
  __syncwarp();
  if (before < need && inclusive >= need) {
    T running = before, above_last = 0;
    int last = -1;
    for (int i = 0; i < 8; ++i) {
      const int b = 255 - (lane * 8 + i);
      if (hist[b] == T(0)) continue;
      last = b;
      above_last = running;
      if (running + hist[b] >= need) break;
      running += hist[b];
    }
    if (last >= 0) {  // the reaching bin, or the lane's lowest non-empty one when rounding fell short
      *bin = static_cast<uint32_t>(last);
      *above = above_last;
    }
  }
}

}  // namespace dsrl::kernels::radix
