// FP8 lightning-indexer logits on Hopper's warpgroup MMAs (sm_90a), for V3.2's indexer shape: 64 heads x 128
// channels. (mma.sync's FP8 form runs at half the bf16 rate on Hopper; the FP8 tensor-core rate is wgmma's only.)
//
// One CTA = 4 queries of one sequence (2 per warpgroup, 64 (query, head) rows each), walking the keys in tiles of
// 128 (cp.async, three stages) with every query row block in shared memory in the 128-byte swizzle (wgmma.cuh):
//   1. scores: each warpgroup, for each of its queries, S[64 heads, 128 keys] = Q K^T (4 x wgmma m64n128k32 e4m3);
//   2. epilogue: ReLU, head weights (the queries' scales folded in), then the sum over heads: each thread adds its two
//      rows, a reduce-scatter over the 8 row lanes of a warp (3 shuffle rounds, leaving each lane 4 keys' sums) and
//      the 4 warps' partial sums through shared memory; times each key's scale, written 128 keys at a time.
// Split over keys (blockIdx.z) for few queries, as the mma.sync kernel of indexer.cu does.
#include <algorithm>

#include "kernels/indexer_cuda.h"
#include "kernels/tensor_core.cuh"
#include "kernels/wgmma.cuh"

namespace dsrl::kernels {
namespace {

constexpr int kHeads = 64, kRowBytes = 128, kKeys = 128, kStages = 3, kThreads = 256;
constexpr int kQueriesPerGroup = 2, kQueries = 2 * kQueriesPerGroup;  // per warpgroup, per CTA
constexpr int kBlockBytes = kHeads * kRowBytes;                       // one query's 64 rows (8 KB)
constexpr int kTileBytes = kKeys * kRowBytes;                         // one tile of keys (16 KB)
constexpr int kRedFloats = kQueries * 4 * kKeys;                      // [query][warp of its group][key]
constexpr int kKeyOffset = kQueries * kBlockBytes, kRedOffset = kKeyOffset + kStages * kTileBytes;
constexpr int kSmemBytes = kRedOffset + kRedFloats * 4 + 1024;  // + alignment to 1024 bytes

struct Args {
  const uint8_t* q;  // [batch, s_q, 64, 128] e4m3
  const uint8_t* k;  // [batch, n_keys, 128] e4m3
  const float* k_scale;
  const float* w;
  const int32_t* key_end;
  float* logits;
  int64_t s_q, n_keys, s_begin, s_count, keys_per_split;
};

// `rows` rows of 128 bytes from src into a 128-byte-swizzled tile at dst; rows from `valid_rows` on are zeros.
__device__ void load_rows(const uint8_t* src, int64_t valid_rows, int rows, uint32_t dst) {
  for (int c = threadIdx.x; c < rows * 8; c += kThreads) {
    const int row = c / 8, chunk = c % 8;
    const bool valid = row < valid_rows;
    tc::cp_async_16(dst + tc::swizzled(row, chunk, 8), src + (valid ? row * kRowBytes + chunk * 16 : 0), valid);
  }
}

// S[64 heads, 128 keys] of one query block against one key tile, over 4 k-steps of 32 bytes.
__device__ __forceinline__ void scores(float (&s)[64], uint32_t q_block, uint32_t key_tile) {
#pragma unroll
  for (int ks = 0; ks < kRowBytes / 32; ++ks)
    wg::mma_m64n128k32_e4m3(s, wg::sw128_desc(q_block + ks * 32, 16, 1024),
                            wg::sw128_desc(key_tile + ks * 32, 16, 1024), ks > 0);
}

// One round of the reduce-scatter: the lanes whose bit kHalf is set keep v[kHalf, 2 kHalf), the others v[0, kHalf);
// each adds the partner lane's values of the half it keeps into v[0, kHalf).
template <int kHalf>
__device__ __forceinline__ void reduce_round(float (&v)[32], int lane) {
  const bool upper = lane & kHalf;
#pragma unroll
  for (int j = 0; j < kHalf; ++j) {
    const float keep = upper ? v[kHalf + j] : v[j], give = upper ? v[j] : v[kHalf + j];
    v[j] = keep + __shfl_xor_sync(0xffffffffu, give, kHalf);
  }
}

// ReLU, head weights and the sum over this warp's 16 heads of one query: each lane ends with the sums of 4 keys,
// tile columns 16g + 8(r / 2) + 2t + r % 2 for r < 4, written to red[warp][column].
__device__ __forceinline__ void warp_head_sums(const float (&s)[64], float w_lo, float w_hi, float* red) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  float v[32];  // v[2i + e]: column 8i + 2t + e, rows g and g + 8 added
#pragma unroll
  for (int i = 0; i < 16; ++i)
#pragma unroll
    for (int e = 0; e < 2; ++e) v[2 * i + e] = fmaxf(s[4 * i + e], 0.f) * w_lo + fmaxf(s[4 * i + 2 + e], 0.f) * w_hi;
  // Reduce-scatter over g (lane bits 4, 3, 2): each round a lane keeps half of its values and adds its partner's.
  reduce_round<16>(v, lane);
  reduce_round<8>(v, lane);
  reduce_round<4>(v, lane);
#pragma unroll
  for (int r = 0; r < 4; ++r) red[(threadIdx.x % 128) / 32 * kKeys + 16 * g + 8 * (r / 2) + 2 * t + r % 2] = v[r];
}

__device__ __forceinline__ void group_barrier(int group) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(1 + group), "r"(128) : "memory");
}

__global__ void __launch_bounds__(kThreads, 1) indexer_logits_fp8_wgmma_kernel(Args a) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - tc::smem_addr(smem_raw) % 1024) % 1024);
  const uint32_t q_tile = tc::smem_addr(smem), key_tiles = q_tile + kKeyOffset;
  float* red = reinterpret_cast<float*>(smem + kRedOffset);  // rewritten each tile after the CTA barrier
  const int group = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, g = threadIdx.x % 32 / 4;
  const int64_t b = blockIdx.y;
  // The last queries see the most keys: they go first, so that the short ones fill the tail.
  const int64_t first = a.s_begin + static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kQueries;
  const int64_t stop = a.s_begin + a.s_count;
  const int64_t lo = static_cast<int64_t>(blockIdx.z) * a.keys_per_split, hi = min(a.n_keys, lo + a.keys_per_split);
  const uint8_t* keys = a.k + b * a.n_keys * kRowBytes;

  int64_t ends[kQueries];  // each query's visible keys; -1 past the last query
  int64_t cta_end = 0;
#pragma unroll
  for (int j = 0; j < kQueries; ++j) {
    const int64_t s = first + j;
    ends[j] = s < stop ? max(int64_t{0}, min(static_cast<int64_t>(a.key_end[b * a.s_q + s]), a.n_keys)) : -1;
    cta_end = max(cta_end, ends[j]);
  }
  int64_t my_ends[kQueriesPerGroup];  // this warpgroup's queries (selected, not indexed: ends stays in registers)
#pragma unroll
  for (int qi = 0; qi < kQueriesPerGroup; ++qi) my_ends[qi] = group == 0 ? ends[qi] : ends[kQueriesPerGroup + qi];
  const int64_t load_end = min(hi, cta_end);
  const int num_tiles = load_end > lo ? static_cast<int>((load_end - lo + kKeys - 1) / kKeys) : 0;
  float w_lo[kQueriesPerGroup], w_hi[kQueriesPerGroup];  // this thread's heads 16 warp + g and + 8
#pragma unroll
  for (int qi = 0; qi < kQueriesPerGroup; ++qi) {
    const int j = group * kQueriesPerGroup + qi;
    const int64_t row = (b * a.s_q + first + j) * kHeads + warp * 16 + g;
    w_lo[qi] = my_ends[qi] >= 0 ? a.w[row] : 0.f;
    w_hi[qi] = my_ends[qi] >= 0 ? a.w[row + 8] : 0.f;
  }

  const int64_t queries = min(stop - first, static_cast<int64_t>(kQueries));
  load_rows(a.q + (b * a.s_q + first) * kBlockBytes, queries * kHeads, kQueries * kHeads, q_tile);
  tc::cp_async_commit();
  auto load_tile = [&](int tile) {
    const int64_t start = lo + static_cast<int64_t>(tile) * kKeys;
    load_rows(keys + start * kRowBytes, hi - start, kKeys, key_tiles + (tile % kStages) * kTileBytes);
  };
#pragma unroll
  for (int tile = 0; tile < kStages - 1; ++tile) {
    if (tile < num_tiles) load_tile(tile);
    tc::cp_async_commit();
  }

  for (int tile = 0; tile < num_tiles; ++tile) {
    tc::cp_async_wait<kStages - 2>();  // q and this tile have landed (this thread's copies)
    wg::fence_shared_for_mma();
    __syncthreads();  // ... everyone's; and both warpgroups are done with the stage loaded next
    if (tile + kStages - 1 < num_tiles) load_tile(tile + kStages - 1);
    tc::cp_async_commit();

    float s[kQueriesPerGroup][64];
    wg::fence();
#pragma unroll
    for (int qi = 0; qi < kQueriesPerGroup; ++qi)
      scores(s[qi], q_tile + (group * kQueriesPerGroup + qi) * kBlockBytes, key_tiles + (tile % kStages) * kTileBytes);
    wg::commit();
    wg::wait<0>();
#pragma unroll
    for (int qi = 0; qi < kQueriesPerGroup; ++qi) wg::pin(s[qi]);

#pragma unroll
    for (int qi = 0; qi < kQueriesPerGroup; ++qi)
      warp_head_sums(s[qi], w_lo[qi], w_hi[qi], red + (group * kQueriesPerGroup + qi) * 4 * kKeys);
    group_barrier(group);
    const int64_t key = lo + static_cast<int64_t>(tile) * kKeys + threadIdx.x % 128;
#pragma unroll
    for (int qi = 0; qi < kQueriesPerGroup; ++qi) {
      const int j = group * kQueriesPerGroup + qi;
      if (my_ends[qi] < 0 || key >= hi) continue;
      const float* sums = red + j * 4 * kKeys + threadIdx.x % 128;
      const float total = (sums[0] + sums[kKeys]) + (sums[2 * kKeys] + sums[3 * kKeys]);
      a.logits[(b * a.s_count + first + j - a.s_begin) * a.n_keys + key] =
          key < my_ends[qi] ? total * a.k_scale[b * a.n_keys + key] : -INFINITY;
    }
  }
  tc::cp_async_wait<0>();
  // Keys of this CTA's range past every one of its queries: -inf without loading them.
#pragma unroll
  for (int qi = 0; qi < kQueriesPerGroup; ++qi) {
    const int j = group * kQueriesPerGroup + qi;
    if (my_ends[qi] < 0) continue;
    float* out = a.logits + (b * a.s_count + first + j - a.s_begin) * a.n_keys;
    for (int64_t key = lo + static_cast<int64_t>(num_tiles) * kKeys + threadIdx.x % 128; key < hi; key += 128)
      out[key] = -INFINITY;
  }
}

}  // namespace

bool indexer_fp8_wgmma_applies(int64_t heads, int64_t dim) {
  return heads == kHeads && dim == kRowBytes && wg::wgmma_device();
}

cudaError_t indexer_logits_fp8_wgmma_cuda(const uint8_t* q, const uint8_t* k, const float* k_scale, const float* w,
                                          const int32_t* key_end, float* logits, const IndexerShape& s,
                                          int64_t s_begin, int64_t s_count, cudaStream_t stream) {
  if (s.heads != kHeads || s.dim != kRowBytes || s_begin < 0 || s_count < 0 || s_begin + s_count > s.s_q)
    return cudaErrorInvalidValue;
  if (s.batch == 0 || s_count == 0 || s.n_keys == 0) return cudaSuccess;
  static const cudaError_t attribute = cudaFuncSetAttribute(
      indexer_logits_fp8_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  if (attribute != cudaSuccess) return attribute;
  const int64_t blocks = (s_count + kQueries - 1) / kQueries;
  if (blocks > 0x7fffffff || s.batch > 65535) return cudaErrorInvalidValue;
  // Few queries (decoding) would leave SMs idle: split the keys so the grid has ~2 waves of CTAs (one fits an SM),
  // >= 512 keys each.
  constexpr int64_t kWantedCtas = 132 * 2, kMinKeysPerSplit = 512;
  const int64_t by_grid = (kWantedCtas + blocks * s.batch - 1) / (blocks * s.batch);
  const int64_t splits = std::max<int64_t>(1, std::min({by_grid, s.n_keys / kMinKeysPerSplit, int64_t{65535}}));
  int64_t per_split = (s.n_keys + splits - 1) / splits;
  per_split = (per_split + kKeys - 1) / kKeys * kKeys;
  const Args a{q, k, k_scale, w, key_end, logits, s.s_q, s.n_keys, s_begin, s_count, per_split};
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(s.batch),
                  static_cast<unsigned>((s.n_keys + per_split - 1) / per_split));
  indexer_logits_fp8_wgmma_kernel<<<grid, kThreads, kSmemBytes, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
