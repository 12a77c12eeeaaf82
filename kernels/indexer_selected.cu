// The indexer's scores over the selected keys, forward and backward, on tensor cores. One CTA = one query x all
// of its 16*kHeadTiles heads; it walks the query's selected key rows in blocks of 32, gathered with cp.async into a
// double buffer (the sparse MLA kernels' scheme, sparse_mla_common.cuh). Warp (tile, half) computes the dot
// products a = q . k of 16 heads x 16 keys, per block:
//   forward:  the weighted ReLU summed over its 16 heads (shuffles), then over the head tiles in shared memory;
//   backward: dS[h, j] = dscores[j] * w[h] * (a > 0), rounded to bf16 into shared memory, and dw[h] += dscores[j]
//             * ReLU(a) in registers; then dq += dS @ k (warp: 16 heads x half of the channels, in registers over
//             all blocks) and dkeys[row] += dS^T @ q (warp: 16 keys x 16-channel groups, fp32 atomics).
#include "kernels/indexer_selected_cuda.h"
#include "kernels/sparse_mla_common.cuh"
#include "kernels/tensor_core.cuh"

namespace dsrl::kernels {
namespace {

using namespace tc;
using mla::add_pair;
using mla::bf16;

constexpr int kBlockKeys = 32;

template <int kDim, int kHeadTiles>
struct Plan {
  static_assert(kDim % 64 == 0, "dim must be a multiple of 64");
  static constexpr int kTiles = kHeadTiles;       // 16-row head tiles
  static constexpr int kHeads = 16 * kHeadTiles;  // every head of the query, zero-padded to whole 16-row tiles
  static constexpr int kWarps = 2 * kHeadTiles;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kChunks = kDim / 8;  // 16-byte chunks per row (a multiple of 8: swizzle-ready)
  static constexpr int kQBytes = kHeads * kChunks * 16;
  static constexpr int kTileBytes = kBlockKeys * kChunks * 16;
  static constexpr int kDsBytes = kHeads * 8 * 16;  // [kHeads, 32] bf16 in rows of 8 chunks (swizzle room)
  static constexpr int kDqTiles = kDim / 2 / 8;     // n8 tiles of one warp's half of dq
  static constexpr int kSmemBytes = kQBytes + 2 * kTileBytes + kDsBytes + 2 * kBlockKeys * 4 +
                                    kHeadTiles * kBlockKeys * 4 + 2 * kHeads * 4;
};

struct Args {
  const bf16* q;
  const float* w;
  const bf16* keys;
  const int32_t* sel;
  const float* dscores;  // backward only
  float* scores;         // forward only
  bf16* dq;              // backward only
  float* dw;
  float* dkeys;
  int heads;
  int topk;
  int64_t n_keys;
};

// What both kernels keep in shared memory, and the walk over the query's selected rows.
template <class P>
struct Walk {
  uint32_t q_tile, kv_tiles;
  int32_t* idx_s;  // [2, 32] rows of the two buffers (-1: none)
  float* w_s;      // [kHeads]
  const int32_t* query_sel;
  int num_blocks;

  __device__ Walk(uint8_t* smem, const Args& a, int64_t query) {
    q_tile = smem_addr(smem);
    kv_tiles = q_tile + P::kQBytes;
    idx_s = reinterpret_cast<int32_t*>(smem + P::kQBytes + 2 * P::kTileBytes + P::kDsBytes);
    w_s = reinterpret_cast<float*>(idx_s + 2 * kBlockKeys + P::kTiles * kBlockKeys);
    query_sel = a.sel + query * a.topk;
    num_blocks = (a.topk + kBlockKeys - 1) / kBlockKeys;
    const bf16* q = a.q + query * a.heads * (P::kChunks * 8);
    for (int c = threadIdx.x; c < P::kHeads * P::kChunks; c += P::kThreads) {  // padding heads: zero rows
      const int row = c / P::kChunks, chunk = c % P::kChunks;
      cp_async_16(q_tile + swizzled(row, chunk, P::kChunks), q + (row < a.heads ? c * 8 : 0), row < a.heads);
    }
    if (num_blocks > 0) gather(a, 0);
    cp_async_commit();
    for (int h = threadIdx.x; h < P::kHeads; h += P::kThreads) w_s[h] = h < a.heads ? a.w[query * a.heads + h] : 0.f;
  }

  __device__ void gather(const Args& a, int block) {
    const int buf = block & 1;
    mla::gather_rows<kBlockKeys, P::kChunks, P::kChunks, P::kThreads>(
        a.keys, a.n_keys, query_sel, a.topk, block * kBlockKeys, kv_tiles + buf * P::kTileBytes,
        idx_s + buf * kBlockKeys);
  }

  // Waits for `block`, starts the next one's copy; returns the block's tile.
  __device__ uint32_t advance(const Args& a, int block) {
    cp_async_wait<0>();
    __syncthreads();  // this block has landed, and every warp is done with the other buffer
    if (block + 1 < num_blocks) {
      gather(a, block + 1);
      cp_async_commit();
    }
    return kv_tiles + (block & 1) * P::kTileBytes;
  }

  // a = q . k for the warp's 16 heads (tile) x 16 keys (half): s[nt] covers keys half * 16 + nt * 8 + [0, 8).
  __device__ void dots(uint32_t kv_tile, int tile, int half, float (&s)[2][4]) const {
    const int lane = threadIdx.x % 32, key_row = half * 16 + lane % 8 + (lane / 16) * 8;
#pragma unroll
    for (int ks = 0; ks < P::kChunks / 2; ++ks) {
      uint32_t qa[4], kb[4];
      ldmatrix_x4(q_tile + swizzled(tile * 16 + lane % 16, ks * 2 + lane / 16, P::kChunks), qa);
      ldmatrix_x4(kv_tile + swizzled(key_row, ks * 2 + (lane / 8) % 2, P::kChunks), kb);
      mma_bf16(s[0], qa, kb[0], kb[1]);
      mma_bf16(s[1], qa, kb[2], kb[3]);
    }
  }
};

template <int kDim, int kHeadTiles>
__global__ void __launch_bounds__(Plan<kDim, kHeadTiles>::kThreads) selected_scores_kernel(Args a) {
  using P = Plan<kDim, kHeadTiles>;
  extern __shared__ __align__(128) uint8_t smem[];
  const int64_t query = blockIdx.x;
  Walk<P> walk(smem, a, query);
  float* part_s = reinterpret_cast<float*>(walk.idx_s + 2 * kBlockKeys);  // [kHeadTiles, 32]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int tile = warp % kHeadTiles, half = warp / kHeadTiles, g = lane / 4, t = lane % 4;

  for (int block = 0; block < walk.num_blocks; ++block) {
    const uint32_t kv_tile = walk.advance(a, block);
    float s[2][4] = {};
    walk.dots(kv_tile, tile, half, s);
    const float w_lo = walk.w_s[tile * 16 + g], w_hi = walk.w_s[tile * 16 + g + 8];
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      float v0 = w_lo * fmaxf(s[nt][0], 0.f) + w_hi * fmaxf(s[nt][2], 0.f);  // key 2t
      float v1 = w_lo * fmaxf(s[nt][1], 0.f) + w_hi * fmaxf(s[nt][3], 0.f);  // key 2t + 1
#pragma unroll
      for (int off = 4; off < 32; off *= 2) {  // over the 8 head pairs (lanes with the same t)
        v0 += __shfl_xor_sync(0xffffffffu, v0, off);
        v1 += __shfl_xor_sync(0xffffffffu, v1, off);
      }
      if (g == 0) {
        const int key = half * 16 + nt * 8 + 2 * t;
        part_s[tile * kBlockKeys + key] = v0;
        part_s[tile * kBlockKeys + key + 1] = v1;
      }
    }
    __syncthreads();  // every head tile's partial sums are in place
    const int j = block * kBlockKeys + threadIdx.x;
    if (threadIdx.x < kBlockKeys && j < a.topk) {
      float total = 0.f;
#pragma unroll
      for (int ht = 0; ht < kHeadTiles; ++ht) total += part_s[ht * kBlockKeys + threadIdx.x];
      const bool none = walk.idx_s[(block & 1) * kBlockKeys + threadIdx.x] < 0;
      a.scores[query * a.topk + j] = none ? -INFINITY : total;
    }
  }
  cp_async_wait<0>();
}

template <int kDim, int kHeadTiles>
__global__ void __launch_bounds__(Plan<kDim, kHeadTiles>::kThreads) selected_scores_backward_kernel(Args a) {
  using P = Plan<kDim, kHeadTiles>;
  extern __shared__ __align__(128) uint8_t smem[];
  const int64_t query = blockIdx.x;
  Walk<P> walk(smem, a, query);
  uint8_t* ds_s = smem + P::kQBytes + 2 * P::kTileBytes;  // [kHeads, 32] bf16 dS
  const uint32_t ds_tile = smem_addr(ds_s);
  float* dw_s = walk.w_s + P::kHeads;                     // [kHeads]
  for (int h = threadIdx.x; h < P::kHeads; h += P::kThreads) dw_s[h] = 0.f;
  __syncthreads();  // w_s and dw_s are set, also when there is no block to walk
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int tile = warp % kHeadTiles, half = warp / kHeadTiles, g = lane / 4, t = lane % 4;
  const int row0 = tile * 16 + g;
  const float* query_dscores = a.dscores + query * a.topk;
  float dq[P::kDqTiles][4] = {};
  float dw_lo = 0.f, dw_hi = 0.f;

  for (int block = 0; block < walk.num_blocks; ++block) {
    const uint32_t kv_tile = walk.advance(a, block);
    const int32_t* block_idx = walk.idx_s + (block & 1) * kBlockKeys;
    float s[2][4] = {};
    walk.dots(kv_tile, tile, half, s);
    const float w_lo = walk.w_s[row0], w_hi = walk.w_s[row0 + 8];
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      float ds[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = half * 16 + nt * 8 + 2 * t + (e & 1);
        const float gj = block_idx[key] >= 0 ? __ldg(query_dscores + block * kBlockKeys + key) : 0.f;
        const float relu = fmaxf(s[nt][e], 0.f);
        if (e < 2) {
          dw_lo += gj * relu;
        } else {
          dw_hi += gj * relu;
        }
        ds[e] = relu > 0.f ? gj * (e < 2 ? w_lo : w_hi) : 0.f;
      }
      const int chunk = half * 2 + nt;
      *reinterpret_cast<uint32_t*>(ds_s + swizzled(row0, chunk, 8) + t * 4) = pack_bf16(ds[0], ds[1]);
      *reinterpret_cast<uint32_t*>(ds_s + swizzled(row0 + 8, chunk, 8) + t * 4) = pack_bf16(ds[2], ds[3]);
    }
    __syncthreads();  // dS of all heads is in place

    // dq += dS @ k over this warp's half of the channels.
    mla::accumulate_dq<kBlockKeys, kDim, P::kChunks>(dq, ds_tile, kv_tile, tile, half);

    // dkeys for keys [16 * key_tile, +16) of the block: A = dS^T (keys x heads), loaded once.
    const int key_tile = warp % 2;
    uint32_t ds_t[kHeadTiles][4];
#pragma unroll
    for (int hs = 0; hs < kHeadTiles; ++hs) {
      const int head = hs * 16 + lane % 8 + ((lane / 16) % 2) * 8, chunk = key_tile * 2 + (lane / 8) % 2;
      ldmatrix_x4_trans(ds_tile + swizzled(head, chunk, 8), ds_t[hs]);
    }
    const int32_t id_lo = block_idx[key_tile * 16 + g], id_hi = block_idx[key_tile * 16 + g + 8];
    for (int group = warp / 2; group < kDim / 16; group += kHeadTiles) {
      float acc[2][4] = {};
      const int chunk = group * 2 + lane / 16;
#pragma unroll
      for (int hs = 0; hs < kHeadTiles; ++hs) {
        uint32_t qb[4];
        const int head = hs * 16 + lane % 8 + ((lane / 8) % 2) * 8;
        ldmatrix_x4_trans(walk.q_tile + swizzled(head, chunk, P::kChunks), qb);
        mma_bf16(acc[0], ds_t[hs], qb[0], qb[1]);
        mma_bf16(acc[1], ds_t[hs], qb[2], qb[3]);
      }
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int col = group * 16 + nt * 8 + 2 * t;
        if (id_lo >= 0) add_pair(a.dkeys + static_cast<int64_t>(id_lo) * kDim + col, acc[nt][0], acc[nt][1]);
        if (id_hi >= 0) add_pair(a.dkeys + static_cast<int64_t>(id_hi) * kDim + col, acc[nt][2], acc[nt][3]);
      }
    }
  }
  cp_async_wait<0>();

  // dw: over the 4 lanes of a head row (t), then over the two halves of the keys.
#pragma unroll
  for (int off = 1; off < 4; off *= 2) {
    dw_lo += __shfl_xor_sync(0xffffffffu, dw_lo, off);
    dw_hi += __shfl_xor_sync(0xffffffffu, dw_hi, off);
  }
  if (t == 0) {
    atomicAdd(dw_s + row0, dw_lo);
    atomicAdd(dw_s + row0 + 8, dw_hi);
  }
  bf16* dq_rows = a.dq + query * a.heads * kDim;
#pragma unroll
  for (int n = 0; n < P::kDqTiles; ++n) {
    const int col = half * (kDim / 2) + n * 8 + 2 * t;
    if (row0 < a.heads) *reinterpret_cast<uint32_t*>(dq_rows + row0 * kDim + col) = pack_bf16(dq[n][0], dq[n][1]);
    if (row0 + 8 < a.heads) {
      *reinterpret_cast<uint32_t*>(dq_rows + (row0 + 8) * kDim + col) = pack_bf16(dq[n][2], dq[n][3]);
    }
  }
  __syncthreads();
  for (int h = threadIdx.x; h < a.heads; h += P::kThreads) a.dw[query * a.heads + h] = dw_s[h];
}

template <bool kBackward, int kDim, int kHeadTiles>
cudaError_t launch_plan(const Args& a, int64_t queries, cudaStream_t stream) {
  using P = Plan<kDim, kHeadTiles>;
  if constexpr (kBackward) {
    return mla::launch_per_query<selected_scores_backward_kernel<kDim, kHeadTiles>, P>(a, queries, P::kHeads, stream);
  } else {
    return mla::launch_per_query<selected_scores_kernel<kDim, kHeadTiles>, P>(a, queries, P::kHeads, stream);
  }
}

template <bool kBackward, int kDim>
cudaError_t launch_for_heads(const Args& a, int64_t queries, int64_t heads, cudaStream_t stream) {
  if (heads <= 16) return launch_plan<kBackward, kDim, 1>(a, queries, stream);
  if (heads == 32) return launch_plan<kBackward, kDim, 2>(a, queries, stream);
  return launch_plan<kBackward, kDim, 4>(a, queries, stream);
}

template <bool kBackward>
cudaError_t launch(const Args& a, const SelectedScoresShape& shape, cudaStream_t stream) {
  if (!selected_scores_cuda_supports(shape.heads, shape.dim) || shape.topk < 0 || shape.topk > (1 << 30))
    return cudaErrorInvalidValue;
  if (shape.queries == 0) return cudaSuccess;
  return shape.dim == 128 ? launch_for_heads<kBackward, 128>(a, shape.queries, shape.heads, stream)
                          : launch_for_heads<kBackward, 64>(a, shape.queries, shape.heads, stream);
}

}  // namespace

cudaError_t selected_scores_cuda(const bf16* q, const float* w, const bf16* keys, const int32_t* sel, float* scores,
                                 const SelectedScoresShape& shape, cudaStream_t stream) {
  const Args a{q,       w,       keys,    sel,
               nullptr, scores,  nullptr, nullptr, nullptr, static_cast<int>(shape.heads), static_cast<int>(shape.topk),
               shape.n_keys};
  return launch<false>(a, shape, stream);
}

cudaError_t selected_scores_backward_cuda(const bf16* q, const float* w, const bf16* keys, const int32_t* sel,
                                          const float* dscores, bf16* dq, float* dw, float* dkeys,
                                          const SelectedScoresShape& shape, cudaStream_t stream) {
  if (!selected_scores_cuda_supports(shape.heads, shape.dim)) return cudaErrorInvalidValue;
  cudaError_t err = cudaMemsetAsync(dkeys, 0, sizeof(float) * shape.n_keys * shape.dim, stream);
  if (err != cudaSuccess) return err;
  const Args a{q,  w,  keys,  sel, dscores, nullptr, dq, dw, dkeys, static_cast<int>(shape.heads),
               static_cast<int>(shape.topk), shape.n_keys};
  return launch<true>(a, shape, stream);
}

}  // namespace dsrl::kernels
