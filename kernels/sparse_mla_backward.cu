// Sparse MLA backward on tensor cores. One CTA = one query x 16*kHeadTiles heads; it walks the query's selected
// rows in blocks of 32, gathered with cp.async into a double buffer, and for each block:
//   1. recomputes the scores and dP = dout . v (warp (tile, half): 16 heads x 16 keys), then P = exp(S - lse) and
//      dS = scale * P * (dP - delta), both rounded to bf16 into shared memory;
//   2. dq += dS @ k (warp: 16 heads x half of the d_qk channels, accumulated in registers over all blocks);
//   3. dkv[row] += dS^T @ q, plus P^T @ dout on the value channels (warp: 16 keys x 16-channel groups), added to
//      the fp32 dkv with atomics, since other queries (and head groups) select the same rows.
// delta = rowsum(out * dout) is computed per head at the start. dq goes out in bf16.
#include "kernels/sparse_mla_cuda.h"
#include "kernels/sparse_mla_common.cuh"
#include "kernels/tensor_core.cuh"

namespace dsrl::kernels {
namespace {

using namespace tc;
using mla::add_pair;
using mla::bf16;

constexpr int kBlockKeys = 32;

constexpr int round_up8(int x) { return (x + 7) / 8 * 8; }

template <int kDqk, int kDv, int kHeadTiles>
struct Plan {
  static_assert(kDqk % 32 == 0 && kDv % 16 == 0 && kDv <= kDqk, "unsupported head dims");
  static constexpr int kHeads = 16 * kHeadTiles;  // heads per CTA
  static constexpr int kWarps = 2 * kHeadTiles;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kQChunks = kDqk / 8, kQRowChunks = round_up8(kQChunks);  // 16-byte chunks per row
  static constexpr int kDoChunks = kDv / 8, kDoRowChunks = round_up8(kDoChunks);
  static constexpr int kQBytes = kHeads * kQRowChunks * 16;
  static constexpr int kDoBytes = kHeads * kDoRowChunks * 16;
  static constexpr int kTileBytes = kBlockKeys * kQRowChunks * 16;
  static constexpr int kPBytes = kHeads * 8 * 16;  // [kHeads, 32] bf16 in rows of 8 chunks (swizzle room)
  static constexpr int kDqTiles = kDqk / 2 / 8;    // n8 tiles of one warp's half of dq
  static constexpr int kSmemBytes =
      kQBytes + kDoBytes + 2 * kTileBytes + 2 * kPBytes + 2 * kBlockKeys * 4 + 2 * kHeads * 4;
};

struct Args {
  const bf16* q;
  const bf16* kv;
  const int32_t* indices;
  const bf16* out;
  const bf16* dout;
  const float* lse;
  bf16* dq;
  float* dkv;
  int heads;
  int topk;
  int64_t n_kv;
  float scale;
};

// delta = rowsum(out * dout) and lse in base-2 units, per head of this CTA (one warp per head).
template <class P>
__device__ void load_row_stats(const Args& a, int64_t first_row, float* lse_s, float* delta_s) {
  constexpr int kDv = P::kDoChunks * 8;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int h = warp; h < P::kHeads; h += P::kWarps) {
    const bf16* o = a.out + (first_row + h) * kDv;
    const bf16* g = a.dout + (first_row + h) * kDv;
    float sum = 0.f;
    for (int c = lane; c < kDv; c += 32) sum += __bfloat162float(o[c]) * __bfloat162float(g[c]);
#pragma unroll
    for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0) {
      delta_s[h] = sum;
      lse_s[h] = a.lse[first_row + h] * kLog2e;
    }
  }
}

template <int kDqk, int kDv, int kHeadTiles>
__global__ void __launch_bounds__(Plan<kDqk, kDv, kHeadTiles>::kThreads, 1) sparse_mla_backward_kernel(Args a) {
  using P = Plan<kDqk, kDv, kHeadTiles>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* p_s = smem + P::kQBytes + P::kDoBytes + 2 * P::kTileBytes;  // [kHeads, 32] bf16 P
  uint8_t* ds_s = p_s + P::kPBytes;                                   // [kHeads, 32] bf16 dS
  int32_t* idx_s = reinterpret_cast<int32_t*>(ds_s + P::kPBytes);     // [2, 32] rows of the two buffers
  float* lse_s = reinterpret_cast<float*>(idx_s + 2 * kBlockKeys);    // [kHeads], base 2
  float* delta_s = lse_s + P::kHeads;                                 // [kHeads]
  const uint32_t q_tile = smem_addr(smem), do_tile = q_tile + P::kQBytes, kv_tiles = do_tile + P::kDoBytes;
  const uint32_t p_tile = smem_addr(p_s), ds_tile = smem_addr(ds_s);

  const int head_blocks = a.heads / P::kHeads;
  const int64_t query = blockIdx.x / head_blocks;
  const int64_t first_row = query * a.heads + (blockIdx.x % head_blocks) * P::kHeads;  // row of q, out, dq
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int tile = warp % kHeadTiles, half = warp / kHeadTiles;
  const int g = lane / 4, t = lane % 4;
  const int32_t* query_idx = a.indices + query * a.topk;
  const int num_blocks = (a.topk + kBlockKeys - 1) / kBlockKeys;
  auto gather = [&](int block, uint32_t tile_addr, int32_t* rows) {
    mla::gather_rows<kBlockKeys, P::kQChunks, P::kQRowChunks, P::kThreads>(a.kv, a.n_kv, query_idx, a.topk,
                                                                           block * kBlockKeys, tile_addr, rows);
  };

  mla::copy_rows<P::kHeads, P::kQChunks, P::kQRowChunks, P::kThreads>(a.q + first_row * kDqk, q_tile);
  mla::copy_rows<P::kHeads, P::kDoChunks, P::kDoRowChunks, P::kThreads>(a.dout + first_row * kDv, do_tile);
  if (num_blocks > 0) gather(0, kv_tiles, idx_s);
  cp_async_commit();
  load_row_stats<P>(a, first_row, lse_s, delta_s);

  float dq[P::kDqTiles][4] = {};
  const int row0 = tile * 16 + g;
  const float scale_log2 = a.scale * kLog2e;

  for (int block = 0; block < num_blocks; ++block) {
    const int buf = block & 1;
    const uint32_t kv_tile = kv_tiles + buf * P::kTileBytes;
    const int32_t* block_idx = idx_s + buf * kBlockKeys;
    cp_async_wait<0>();
    __syncthreads();  // this block has landed, and every warp is done with the other buffer and with P / dS
    if (block + 1 < num_blocks) {
      gather(block + 1, kv_tiles + (buf ^ 1) * P::kTileBytes, idx_s + (buf ^ 1) * kBlockKeys);
      cp_async_commit();
    }

    // 1. Scores and dP for this warp's 16 heads x 16 keys; the B fragments are the same kv rows for both.
    float s[2][4] = {}, dp[2][4] = {};
    const int key_row = half * 16 + lane % 8 + (lane / 16) * 8;
#pragma unroll 4
    for (int ks = 0; ks < kDqk / 16; ++ks) {
      uint32_t qa[4], kb[4];
      ldmatrix_x4(q_tile + swizzled(tile * 16 + lane % 16, ks * 2 + lane / 16, P::kQRowChunks), qa);
      ldmatrix_x4(kv_tile + swizzled(key_row, ks * 2 + (lane / 8) % 2, P::kQRowChunks), kb);
      mma_bf16(s[0], qa, kb[0], kb[1]);
      mma_bf16(s[1], qa, kb[2], kb[3]);
    }
#pragma unroll 4
    for (int ks = 0; ks < kDv / 16; ++ks) {
      uint32_t ga[4], vb[4];
      ldmatrix_x4(do_tile + swizzled(tile * 16 + lane % 16, ks * 2 + lane / 16, P::kDoRowChunks), ga);
      ldmatrix_x4(kv_tile + swizzled(key_row, ks * 2 + (lane / 8) % 2, P::kQRowChunks), vb);
      mma_bf16(dp[0], ga, vb[0], vb[1]);
      mma_bf16(dp[1], ga, vb[2], vb[3]);
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      float p[4], ds[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = half * 16 + nt * 8 + 2 * t + (e & 1), row = row0 + 8 * (e / 2);
        p[e] = block_idx[key] >= 0 ? exp2f(s[nt][e] * scale_log2 - lse_s[row]) : 0.f;
        ds[e] = a.scale * p[e] * (dp[nt][e] - delta_s[row]);
      }
      const int chunk = half * 2 + nt;
      *reinterpret_cast<uint32_t*>(p_s + swizzled(row0, chunk, 8) + t * 4) = pack_bf16(p[0], p[1]);
      *reinterpret_cast<uint32_t*>(p_s + swizzled(row0 + 8, chunk, 8) + t * 4) = pack_bf16(p[2], p[3]);
      *reinterpret_cast<uint32_t*>(ds_s + swizzled(row0, chunk, 8) + t * 4) = pack_bf16(ds[0], ds[1]);
      *reinterpret_cast<uint32_t*>(ds_s + swizzled(row0 + 8, chunk, 8) + t * 4) = pack_bf16(ds[2], ds[3]);
    }
    __syncthreads();  // P and dS of all heads are in place

    // 2. dq += dS @ k over this warp's half of the channels.
    mla::accumulate_dq<kBlockKeys, kDqk, P::kQRowChunks>(dq, ds_tile, kv_tile, tile, half);

    // 3. dkv for keys [16 * key_tile, +16) of the block: A = dS^T and P^T (keys x heads), loaded once.
    const int key_tile = warp % 2;
    uint32_t ds_t[kHeadTiles][4], p_t[kHeadTiles][4];
#pragma unroll
    for (int hs = 0; hs < kHeadTiles; ++hs) {
      const int head = hs * 16 + lane % 8 + ((lane / 16) % 2) * 8, chunk = key_tile * 2 + (lane / 8) % 2;
      ldmatrix_x4_trans(ds_tile + swizzled(head, chunk, 8), ds_t[hs]);
      ldmatrix_x4_trans(p_tile + swizzled(head, chunk, 8), p_t[hs]);
    }
    const int32_t id_lo = block_idx[key_tile * 16 + g], id_hi = block_idx[key_tile * 16 + g + 8];
    for (int group = warp / 2; group < kDqk / 16; group += kHeadTiles) {
      float acc[2][4] = {};
      const int chunk = group * 2 + lane / 16;
#pragma unroll
      for (int hs = 0; hs < kHeadTiles; ++hs) {
        uint32_t qb[4];
        const int head = hs * 16 + lane % 8 + ((lane / 8) % 2) * 8;
        ldmatrix_x4_trans(q_tile + swizzled(head, chunk, P::kQRowChunks), qb);
        mma_bf16(acc[0], ds_t[hs], qb[0], qb[1]);
        mma_bf16(acc[1], ds_t[hs], qb[2], qb[3]);
      }
      if (group < kDv / 16) {  // value channels: + P^T @ dout
#pragma unroll
        for (int hs = 0; hs < kHeadTiles; ++hs) {
          uint32_t gb[4];
          const int head = hs * 16 + lane % 8 + ((lane / 8) % 2) * 8;
          ldmatrix_x4_trans(do_tile + swizzled(head, chunk, P::kDoRowChunks), gb);
          mma_bf16(acc[0], p_t[hs], gb[0], gb[1]);
          mma_bf16(acc[1], p_t[hs], gb[2], gb[3]);
        }
      }
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const int col = group * 16 + nt * 8 + 2 * t;
        if (id_lo >= 0) add_pair(a.dkv + static_cast<int64_t>(id_lo) * kDqk + col, acc[nt][0], acc[nt][1]);
        if (id_hi >= 0) add_pair(a.dkv + static_cast<int64_t>(id_hi) * kDqk + col, acc[nt][2], acc[nt][3]);
      }
    }
  }
  cp_async_wait<0>();

  bf16* dq_rows = a.dq + first_row * kDqk;
#pragma unroll
  for (int n = 0; n < P::kDqTiles; ++n) {
    const int col = half * (kDqk / 2) + n * 8 + 2 * t;
    *reinterpret_cast<uint32_t*>(dq_rows + row0 * kDqk + col) = pack_bf16(dq[n][0], dq[n][1]);
    *reinterpret_cast<uint32_t*>(dq_rows + (row0 + 8) * kDqk + col) = pack_bf16(dq[n][2], dq[n][3]);
  }
}

template <int kDqk, int kDv, int kHeadTiles>
cudaError_t launch(const Args& a, int64_t s_q, cudaStream_t stream) {
  using P = Plan<kDqk, kDv, kHeadTiles>;
  return mla::launch_per_query<sparse_mla_backward_kernel<kDqk, kDv, kHeadTiles>, P>(a, s_q, a.heads, stream);
}

template <int kDqk, int kDv>
cudaError_t launch_for_heads(const Args& a, int64_t s_q, cudaStream_t stream) {
  if (a.heads % 64 == 0) return launch<kDqk, kDv, 4>(a, s_q, stream);
  if (a.heads % 32 == 0) return launch<kDqk, kDv, 2>(a, s_q, stream);
  return launch<kDqk, kDv, 1>(a, s_q, stream);
}

}  // namespace

cudaError_t sparse_mla_backward_cuda(const bf16* q, const bf16* kv, const int32_t* indices, const bf16* out,
                                     const bf16* dout, const float* lse, bf16* dq, float* dkv,
                                     const SparseMlaShape& shape, float scale, cudaStream_t stream) {
  if (!sparse_mla_cuda_supports(shape.heads, shape.d_qk, shape.d_v) || shape.topk < 0 || shape.topk > (1 << 30))
    return cudaErrorInvalidValue;
  cudaError_t err = cudaMemsetAsync(dkv, 0, sizeof(float) * shape.n_kv * shape.d_qk, stream);
  if (err != cudaSuccess || shape.s_q == 0) return err;
  const Args a{q,   kv,  indices, out, dout, lse, dq, dkv, static_cast<int>(shape.heads), static_cast<int>(shape.topk),
               shape.n_kv, scale};
  if (shape.d_qk == 576) return launch_for_heads<576, 512>(a, shape.s_q, stream);
  return launch_for_heads<288, 256>(a, shape.s_q, stream);
}

}  // namespace dsrl::kernels
