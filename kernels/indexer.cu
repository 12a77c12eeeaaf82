// Lightning-indexer logits on tensor cores, and a radix top-k select.
//
// Logits: a CTA of 8 warps takes 8 * 64 / heads queries of one sequence and walks the keys in tiles of 64 (cp.async,
// double buffer). Each warp owns 64 (query, head) rows: its q fragments stay in registers for the whole walk, so
// shared memory only feeds the keys, and each key fragment serves four 16-row MMA tiles. The epilogue applies
// ReLU and the head weights, and sums the heads of each query with warp shuffles.
//
// Two element types share that kernel: bf16 (mma m16n8k16) and FP8 e4m3 (mma m16n8k32, sm_89+). In bytes their
// fragments are laid out alike (a 32-byte k step; lane (g, t) holds bytes 4t..4t+3 and 4t+16..4t+19 of a row), so
// the only differences are the MMA and, for FP8, each key's scale, applied to the head sum (scales are positive
// powers of two, so they commute with the ReLU; the queries' scales come folded into w).
//
// Top-k: one block per row (copied to shared memory when it fits). Values map to unsigned keys that sort like the
// floats; four 8-bit histogram passes find the k-th largest key exactly, then an ordered compaction writes the
// chosen positions.
#include <cub/block/block_scan.cuh>

#include <algorithm>

#include "kernels/indexer_cuda.h"
#include "kernels/radix_select.cuh"
#include "kernels/tensor_core.cuh"

namespace dsrl::kernels {
namespace {

using namespace tc;
using radix::kMinusInfKey;
using radix::order_key;
using radix::present;
using bf16 = __nv_bfloat16;

constexpr int kTileKeys = 64;
constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;

struct LogitsArgs {
  const uint8_t* q;        // [batch, s_q, heads, dim] elements of the kernel's type
  const uint8_t* k;        // [batch, n_keys, dim]
  const float* k_scale;    // [batch, n_keys] for FP8 keys, else unused
  const float* w;
  const int32_t* key_end;
  float* logits;
  int64_t s_q, n_keys, s_begin, s_count;
  int64_t keys_per_split;  // blockIdx.z takes keys [z * keys_per_split, (z + 1) * keys_per_split)
};

// The element types: bytes per element and the MMA over one 32-byte k step.
struct Bf16Elements {
  static constexpr int kBytes = 2;
  static constexpr bool kScaledKeys = false;
  __device__ static void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_bf16(c, a, b0, b1);
  }
};
struct E4m3Elements {
  static constexpr int kBytes = 1;
  static constexpr bool kScaledKeys = true;
  __device__ static void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_e4m3(c, a, b0, b1);
  }
};

template <int kHeads, int kDim, class E>
struct LogitsPlan {
  static constexpr int kQueriesPerWarp = 64 / kHeads;
  static constexpr int kQueries = kWarps * kQueriesPerWarp;  // per CTA
  static constexpr int kRowBytes = kDim * E::kBytes;          // one key or (query, head) row
  static constexpr int kSteps = kRowBytes / 32;               // 32-byte k steps of one dot product
  static constexpr int kRowChunks = kRowBytes / 16;           // 16-byte chunks per key row (4, 8 or 16)
  static constexpr int kTileBytes = kTileKeys * kRowBytes;
};

// The query (0 .. kQueriesPerWarp) that row `m*16 + 8*upper + g` of a warp's 64 rows belongs to; never depends on g.
template <int kHeads>
__device__ __forceinline__ int query_of(int m, int upper) {
  return (m * 16 + 8 * upper) / kHeads;
}

template <class P>
__device__ void load_key_tile(const uint8_t* keys, int64_t n_keys, int64_t tile_start, uint32_t tile) {
  for (int c = threadIdx.x; c < kTileKeys * P::kRowChunks; c += kThreads) {
    const int row = c / P::kRowChunks, chunk = c % P::kRowChunks;
    const int64_t key = tile_start + row;
    const bool valid = key < n_keys;
    cp_async_16(tile + swizzled(row, chunk, P::kRowChunks), keys + (valid ? key * P::kRowBytes + chunk * 16 : 0),
                valid);
  }
}

template <int kHeads, int kDim, class E>
__global__ void __launch_bounds__(kThreads) indexer_logits_kernel(LogitsArgs a) {
  using P = LogitsPlan<kHeads, kDim, E>;
  constexpr int QW = P::kQueriesPerWarp;
  __shared__ __align__(128) uint8_t tiles[2 * P::kTileBytes];
  __shared__ int cta_end;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t b = blockIdx.y;
  // The last queries see the most keys: they go first, so that the short ones fill the tail.
  const int64_t first = a.s_begin + static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * P::kQueries;
  const int64_t lo = static_cast<int64_t>(blockIdx.z) * a.keys_per_split;  // this CTA's keys [lo, hi)
  const int64_t hi = min(a.n_keys, lo + a.keys_per_split);
  const int64_t stop = a.s_begin + a.s_count;
  const uint8_t* keys = a.k + b * a.n_keys * P::kRowBytes;

  if (threadIdx.x == 0) cta_end = 0;
  __syncthreads();
  if (threadIdx.x < P::kQueries && first + threadIdx.x < stop)
    atomicMax(&cta_end, static_cast<int>(min(static_cast<int64_t>(a.key_end[b * a.s_q + first + threadIdx.x]), a.n_keys)));
  __syncthreads();
  const int64_t load_end = min(hi, static_cast<int64_t>(cta_end));

  // This warp's queries, their visible keys, q fragments and head weights.
  int64_t my_end[QW];
  int64_t warp_end = 0;
#pragma unroll
  for (int j = 0; j < QW; ++j) {
    const int64_t s = first + warp * QW + j;
    my_end[j] = s < stop ? max(int64_t{0}, min(static_cast<int64_t>(a.key_end[b * a.s_q + s]), a.n_keys)) : -1;
    warp_end = max(warp_end, my_end[j]);
  }
  uint32_t qa[4][P::kSteps][4];
  float wr[4][2];
#pragma unroll
  for (int m = 0; m < 4; ++m)
#pragma unroll
    for (int upper = 0; upper < 2; ++upper) {
      const int row = m * 16 + 8 * upper + g;
      const int64_t s = first + warp * QW + row / kHeads;
      const bool valid = s < stop;
      const int64_t qrow = ((b * a.s_q + s) * kHeads + row % kHeads) * P::kRowBytes;
      wr[m][upper] = valid ? a.w[(b * a.s_q + s) * kHeads + row % kHeads] : 0.f;
#pragma unroll
      for (int ks = 0; ks < P::kSteps; ++ks) {
        const uint32_t* src = reinterpret_cast<const uint32_t*>(a.q + qrow + ks * 32 + 4 * t);
        qa[m][ks][upper] = valid ? src[0] : 0u;
        qa[m][ks][upper + 2] = valid ? src[4] : 0u;  // 16 bytes further
      }
    }

  const uint32_t tile0 = smem_addr(tiles);
  const int num_tiles = load_end > lo ? static_cast<int>((load_end - lo + kTileKeys - 1) / kTileKeys) : 0;
  if (num_tiles > 0) load_key_tile<P>(keys, hi, lo, tile0);
  cp_async_commit();
  for (int tile = 0; tile < num_tiles; ++tile) {
    const uint32_t cur = tile0 + (tile & 1) * P::kTileBytes;
    cp_async_wait<0>();
    __syncthreads();
    if (tile + 1 < num_tiles) {
      load_key_tile<P>(keys, hi, lo + static_cast<int64_t>(tile + 1) * kTileKeys, tile0 + ((tile + 1) & 1) * P::kTileBytes);
      cp_async_commit();
    }
#pragma unroll 1
    for (int sub = 0; sub < kTileKeys / 16; ++sub) {
      const int64_t key0 = lo + static_cast<int64_t>(tile) * kTileKeys + sub * 16;
      float sums[QW][2][2] = {};  // [query][n tile][column pair]
      if (key0 < warp_end) {
        float acc[4][2][4] = {};
#pragma unroll
        for (int ks = 0; ks < P::kSteps; ++ks) {
          uint32_t kb[4];
          const int key = sub * 16 + lane % 8 + (lane / 16) * 8;
          ldmatrix_x4(cur + swizzled(key, ks * 2 + (lane / 8) % 2, P::kRowChunks), kb);
#pragma unroll
          for (int m = 0; m < 4; ++m) {
            E::mma(acc[m][0], qa[m][ks], kb[0], kb[1]);
            E::mma(acc[m][1], qa[m][ks], kb[2], kb[3]);
          }
        }
#pragma unroll
        for (int m = 0; m < 4; ++m)
#pragma unroll
          for (int n = 0; n < 2; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e)
              sums[query_of<kHeads>(m, e / 2)][n][e % 2] += fmaxf(acc[m][n][e], 0.f) * wr[m][e / 2];
#pragma unroll
        for (int j = 0; j < QW; ++j)
#pragma unroll
          for (int n = 0; n < 2; ++n)
#pragma unroll
            for (int e = 0; e < 2; ++e)
#pragma unroll
              for (int mask = 4; mask <= 16; mask *= 2)
                sums[j][n][e] += __shfl_xor_sync(0xffffffffu, sums[j][n][e], mask);
      }
      if (g == 0) {
#pragma unroll
        for (int j = 0; j < QW; ++j) {
          if (my_end[j] < 0) continue;
          float* out = a.logits + (b * a.s_count + first + warp * QW + j - a.s_begin) * a.n_keys;
#pragma unroll
          for (int n = 0; n < 2; ++n)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const int64_t key = key0 + n * 8 + 2 * t + e;
              if (key >= hi) continue;
              const float scale = E::kScaledKeys && key < my_end[j] ? a.k_scale[b * a.n_keys + key] : 1.f;
              out[key] = key < my_end[j] ? sums[j][n][e] * scale : -INFINITY;
            }
        }
      }
    }
  }
  cp_async_wait<0>();
  // Keys of this CTA's range past every one of its queries: -inf without loading them.
#pragma unroll
  for (int j = 0; j < QW; ++j) {
    if (my_end[j] < 0) continue;
    float* out = a.logits + (b * a.s_count + first + warp * QW + j - a.s_begin) * a.n_keys;
    for (int64_t key = lo + static_cast<int64_t>(num_tiles) * kTileKeys + lane; key < hi; key += 32) out[key] = -INFINITY;
  }
}

// Few queries (decoding: one per sequence) would leave most SMs idle: their keys are then split over blockIdx.z
// so that the grid has at least ~4 CTAs per SM, each with at least 512 keys.
template <int kHeads, int kDim, class E>
cudaError_t launch_logits(LogitsArgs a, int64_t batch, cudaStream_t stream) {
  using P = LogitsPlan<kHeads, kDim, E>;
  const int64_t blocks = (a.s_count + P::kQueries - 1) / P::kQueries;
  if (blocks > 0x7fffffff || batch > 65535) return cudaErrorInvalidValue;
  constexpr int64_t kWantedCtas = 132 * 4, kMinKeysPerSplit = 512;
  const int64_t by_grid = (kWantedCtas + blocks * batch - 1) / (blocks * batch);
  const int64_t splits = std::max<int64_t>(1, std::min({by_grid, a.n_keys / kMinKeysPerSplit, int64_t{65535}}));
  a.keys_per_split = (a.n_keys + splits - 1) / splits;
  a.keys_per_split = (a.keys_per_split + kTileKeys - 1) / kTileKeys * kTileKeys;
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(batch),
                  static_cast<unsigned>((a.n_keys + a.keys_per_split - 1) / std::max<int64_t>(a.keys_per_split, 1)));
  indexer_logits_kernel<kHeads, kDim, E><<<grid, kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

template <int kDim, class E>
cudaError_t launch_logits_for_heads(const LogitsArgs& a, int64_t heads, int64_t batch, cudaStream_t stream) {
  switch (heads) {
    case 8: return launch_logits<8, kDim, E>(a, batch, stream);
    case 16: return launch_logits<16, kDim, E>(a, batch, stream);
    case 32: return launch_logits<32, kDim, E>(a, batch, stream);
    default: return launch_logits<64, kDim, E>(a, batch, stream);
  }
}

template <class E>
cudaError_t launch_logits_for_shape(const LogitsArgs& a, const IndexerShape& s, cudaStream_t stream) {
  if (!indexer_cuda_supports(s.heads, s.dim) || a.s_begin < 0 || a.s_count < 0 || a.s_begin + a.s_count > s.s_q)
    return cudaErrorInvalidValue;
  if (s.batch == 0 || a.s_count == 0 || s.n_keys == 0) return cudaSuccess;
  if (s.dim == 128) return launch_logits_for_heads<128, E>(a, s.heads, s.batch, stream);
  return launch_logits_for_heads<64, E>(a, s.heads, s.batch, stream);
}

// --- top-k ----------------------------------------------------------------------------------------------------

constexpr int kTopkThreads = 512;
// Rows up to this many values are first copied into shared memory (128 KiB), so the five passes after the first
// read on-chip memory; longer rows are read from global memory (L2) each pass.
constexpr int64_t kSharedRow = 32768;

__global__ void __launch_bounds__(kTopkThreads) topk_positions_kernel(const float* logits, int64_t n, int64_t k,
                                                                       const int32_t* row_ends, int32_t* out) {
  using Scan = cub::BlockScan<int, kTopkThreads>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ uint32_t hist[256];
  __shared__ uint32_t present_count, bin, above;
  extern __shared__ float row_copy[];
  const float* x = logits + static_cast<int64_t>(blockIdx.x) * n;
  int32_t* o = out + static_cast<int64_t>(blockIdx.x) * k;
  // Values at len and after are -inf by the caller's contract (row_ends), so they are never read.
  const int64_t len = row_ends ? max(int64_t{0}, min(n, static_cast<int64_t>(row_ends[blockIdx.x]))) : n;
  if (n <= kSharedRow) {
    for (int64_t i = threadIdx.x; i < len; i += kTopkThreads) row_copy[i] = x[i];
    x = row_copy;  // made visible by the first pass's barrier
  }

  // Radix select over the present (> -inf) values: prefix/mask grow 8 bits per pass.
  uint32_t prefix = 0, mask = 0, need = 0, threshold = kMinusInfKey, equal_quota = 0;
  bool take_all = false;
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    for (int i = threadIdx.x; i < 256; i += kTopkThreads) hist[i] = 0;
    if (threadIdx.x == 0) present_count = 0;
    __syncthreads();
    uint32_t count = 0;
    for (int64_t i = threadIdx.x; i < len; i += kTopkThreads) {
      const uint32_t key = order_key(x[i]);
      if (present(key) && (key & mask) == prefix) {
        atomicAdd(&hist[(key >> shift) & 255u], 1u);
        ++count;
      }
    }
    if (pass == 0) atomicAdd(&present_count, count);
    __syncthreads();
    if (pass == 0) {
      if (present_count <= k) {  // every present value is chosen
        take_all = true;
        break;
      }
      need = static_cast<uint32_t>(k);
    }
    if (threadIdx.x < 32) radix::find_bin<uint32_t>(hist, need, &bin, &above);
    __syncthreads();
    need -= above;
    prefix |= bin << shift;
    mask |= 255u << shift;
    __syncthreads();  // bin and above are rewritten by the next pass
  }
  if (!take_all) {
    threshold = prefix;    // the k-th largest key itself
    equal_quota = need;    // how many keys equal to it are chosen (the lowest positions)
  }

  // Ordered compaction: each thread owns a contiguous range; a scan of its counts gives where it writes.
  const int64_t per_thread = (len + kTopkThreads - 1) / kTopkThreads;
  const int64_t lo = min(len, threadIdx.x * per_thread), hi = min(len, lo + per_thread);
  int greater = 0, equal = 0;
  for (int64_t i = lo; i < hi; ++i) {
    const uint32_t key = order_key(x[i]);
    if (present(key)) {
      greater += key > threshold;
      equal += key == threshold;
    }
  }
  int greater_before, equal_before, total_greater;
  Scan(scan_storage).ExclusiveSum(greater, greater_before, total_greater);
  __syncthreads();
  Scan(scan_storage).ExclusiveSum(equal, equal_before);
  const int64_t chosen = min(static_cast<int64_t>(total_greater) + equal_quota, k);
  int64_t pos = greater_before + min(static_cast<uint32_t>(equal_before), equal_quota);
  uint32_t equal_seen = equal_before;
  for (int64_t i = lo; i < hi; ++i) {
    const uint32_t key = order_key(x[i]);
    if (!present(key)) continue;
    bool take = key > threshold;
    if (key == threshold) take = equal_seen++ < equal_quota;
    if (take) o[pos++] = static_cast<int32_t>(i);
  }
  for (int64_t j = chosen + threadIdx.x; j < k; j += kTopkThreads) o[j] = -1;
}

}  // namespace

cudaError_t indexer_logits_cuda(const bf16* q, const bf16* k, const float* w, const int32_t* key_end, float* logits,
                                const IndexerShape& s, int64_t s_begin, int64_t s_count, cudaStream_t stream) {
  const LogitsArgs a{reinterpret_cast<const uint8_t*>(q), reinterpret_cast<const uint8_t*>(k), nullptr, w, key_end,
                     logits, s.s_q, s.n_keys, s_begin, s_count, s.n_keys};
  return launch_logits_for_shape<Bf16Elements>(a, s, stream);
}

bool indexer_fp8_device() {
  static const bool yes = [] {
    int device = 0, major = 0, minor = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
           cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) == cudaSuccess &&
           major * 10 + minor >= 89;
  }();
  return yes;
}

cudaError_t indexer_logits_fp8_cuda(const uint8_t* q, const uint8_t* k, const float* k_scale, const float* w,
                                    const int32_t* key_end, float* logits, const IndexerShape& s, int64_t s_begin,
                                    int64_t s_count, cudaStream_t stream, bool allow_wgmma) {
  if (!indexer_fp8_device()) return cudaErrorNotSupported;
  if (allow_wgmma && indexer_fp8_wgmma_applies(s.heads, s.dim))
    return indexer_logits_fp8_wgmma_cuda(q, k, k_scale, w, key_end, logits, s, s_begin, s_count, stream);
  const LogitsArgs a{q, k, k_scale, w, key_end, logits, s.s_q, s.n_keys, s_begin, s_count, s.n_keys};
  return launch_logits_for_shape<E4m3Elements>(a, s, stream);
}

cudaError_t topk_positions_cuda(const float* logits, int64_t rows, int64_t n, int64_t k, const int32_t* row_ends,
                                int32_t* out, cudaStream_t stream) {
  if (rows < 0 || n < 0 || k < 0 || k > 65536 || rows > 0x7fffffff) return cudaErrorInvalidValue;
  if (rows == 0 || k == 0) return cudaSuccess;
  static const cudaError_t attribute =  // once per process (one GPU each in dsrl), before any graph capture
      cudaFuncSetAttribute(topk_positions_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(kSharedRow * sizeof(float)));
  if (attribute != cudaSuccess) return attribute;
  const size_t shared = n <= kSharedRow ? static_cast<size_t>(n) * sizeof(float) : 0;
  topk_positions_kernel<<<static_cast<unsigned>(rows), kTopkThreads, shared, stream>>>(logits, n, k, row_ends, out);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
