// Sparse MLA forward on tensor cores. One CTA = one query x 16*kHeadTiles heads (the M side of every MMA);
// it walks the query's selected rows in blocks of 64, gathering each block of kv rows into shared memory with
// cp.async while the previous block is being used (double buffer), and keeps an online softmax.
//
// Warps come in pairs per 16-head tile: warp `half` 0/1 computes the scores of keys [32*half, 32*half+32) of the
// block, and later the output channels [half*d_v/2, (half+1)*d_v/2). The pair agrees on the running max through
// shared memory, and the probabilities go through shared memory (bf16) to become the A operand of P @ V.
#include "kernels/sparse_mla_cuda.h"
#include "kernels/sparse_mla_common.cuh"
#include "kernels/tensor_core.cuh"

namespace dsrl::kernels {
namespace {

using namespace tc;
using mla::bf16;

constexpr int kBlockKeys = 64;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int kDqk, int kDv, int kHeadTiles>
struct Plan {
  static_assert(kDqk % 16 == 0 && kDv % 32 == 0 && kDv <= kDqk, "unsupported head dims");
  static constexpr int kHeads = 16 * kHeadTiles;                // heads per CTA
  static constexpr int kWarps = 2 * kHeadTiles;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kLoadChunks = kDqk / 8;                  // 16-byte chunks of a q or kv row
  static constexpr int kRowChunks = (kLoadChunks + 7) / 8 * 8;  // padded for the swizzle
  static constexpr int kQBytes = kHeads * kRowChunks * 16;
  static constexpr int kTileBytes = kBlockKeys * kRowChunks * 16;
  static constexpr int kPBytes = kHeads * (kBlockKeys / 8) * 16;
  static constexpr int kOutTiles = kDv / 2 / 8;                 // n8 tiles of one warp's output half
  static constexpr int kSmemBytes = kQBytes + 2 * kTileBytes + kPBytes + (2 * kBlockKeys + 4 * kHeads) * 4;
};

struct Args {
  const bf16* q;
  const bf16* kv;
  const int32_t* indices;
  bf16* out;
  float* lse;
  int heads;
  int topk;
  int64_t n_kv;
  float scale_log2;  // softmax scale * log2(e): scores live in base-2 units
};

template <int kDqk, int kDv, int kHeadTiles>
__global__ void __launch_bounds__(Plan<kDqk, kDv, kHeadTiles>::kThreads, 1) sparse_mla_forward_kernel(Args a) {
  using P = Plan<kDqk, kDv, kHeadTiles>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* p_s = smem + P::kQBytes + 2 * P::kTileBytes;              // [kHeads, 64] bf16 probabilities
  int32_t* idx_s = reinterpret_cast<int32_t*>(p_s + P::kPBytes);     // [2, 64] rows of the two buffers
  float* red_max = reinterpret_cast<float*>(idx_s + 2 * kBlockKeys);  // [2 halves, kHeads]
  float* red_sum = red_max + 2 * P::kHeads;                           // [2 halves, kHeads]
  const uint32_t q_tile = smem_addr(smem), kv_tiles = q_tile + P::kQBytes, p_tile = smem_addr(p_s);

  const int head_blocks = a.heads / P::kHeads;
  const int64_t query = blockIdx.x / head_blocks;
  const int head0 = (blockIdx.x % head_blocks) * P::kHeads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int tile = warp % kHeadTiles, half = warp / kHeadTiles;
  const int g = lane / 4, t = lane % 4;
  const int32_t* query_idx = a.indices + query * a.topk;
  const int num_blocks = (a.topk + kBlockKeys - 1) / kBlockKeys;

  auto gather = [&](int block, uint32_t tile, int32_t* rows) {
    mla::gather_rows<kBlockKeys, P::kLoadChunks, P::kRowChunks, P::kThreads>(a.kv, a.n_kv, query_idx, a.topk,
                                                                             block * kBlockKeys, tile, rows);
  };
  mla::copy_rows<P::kHeads, P::kLoadChunks, P::kRowChunks, P::kThreads>(a.q + (query * a.heads + head0) * kDqk,
                                                                        q_tile);
  if (num_blocks > 0) gather(0, kv_tiles, idx_s);
  cp_async_commit();

  float o[P::kOutTiles][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8 of the tile, base-2 units
  const int row0 = tile * 16 + g;

  for (int block = 0; block < num_blocks; ++block) {
    const int buf = block & 1;
    const uint32_t kv_tile = kv_tiles + buf * P::kTileBytes;
    cp_async_wait<0>();
    __syncthreads();  // this block has landed, and every warp is done with the other buffer
    if (block + 1 < num_blocks) {
      gather(block + 1, kv_tiles + (buf ^ 1) * P::kTileBytes, idx_s + (buf ^ 1) * kBlockKeys);
      cp_async_commit();
    }

    // Scores of this warp's 16 heads x 32 keys.
    float s[4][4] = {};
#pragma unroll
    for (int ks = 0; ks < kDqk / 16; ++ks) {
      uint32_t qa[4];
      ldmatrix_x4(q_tile + swizzled(tile * 16 + lane % 16, ks * 2 + lane / 16, P::kRowChunks), qa);
#pragma unroll
      for (int pair = 0; pair < 2; ++pair) {
        uint32_t kb[4];
        const int key = half * 32 + pair * 16 + lane % 8 + (lane / 16) * 8;
        ldmatrix_x4(kv_tile + swizzled(key, ks * 2 + (lane / 8) % 2, P::kRowChunks), kb);
        mma_bf16(s[2 * pair], qa, kb[0], kb[1]);
        mma_bf16(s[2 * pair + 1], qa, kb[2], kb[3]);
      }
    }

    // Online softmax: mask, the pair's common running max, probabilities into shared memory.
    float block_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = half * 32 + nt * 8 + 2 * t + (e & 1);
        s[nt][e] = idx_s[buf * kBlockKeys + key] >= 0 ? s[nt][e] * a.scale_log2 : -INFINITY;
        block_max[e / 2] = fmaxf(block_max[e / 2], s[nt][e]);
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 1));
      block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 2));
      if (t == 0) red_max[half * P::kHeads + row0 + 8 * r] = block_max[r];
    }
    __syncthreads();
    float alpha[2], base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = row0 + 8 * r;
      const float m_new = fmaxf(m[r], fmaxf(red_max[row], red_max[P::kHeads + row]));
      base[r] = m_new == -INFINITY ? 0.f : m_new;  // nothing valid yet: every probability is exp2(-inf) = 0
      alpha[r] = exp2f(m[r] - base[r]);
      m[r] = m_new;
      l[r] *= alpha[r];
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const float p0 = exp2f(s[nt][0] - base[0]), p1 = exp2f(s[nt][1] - base[0]);
      const float p2 = exp2f(s[nt][2] - base[1]), p3 = exp2f(s[nt][3] - base[1]);
      l[0] += p0 + p1;
      l[1] += p2 + p3;
      const int chunk = half * 4 + nt;
      *reinterpret_cast<uint32_t*>(p_s + swizzled(row0, chunk, 8) + t * 4) = pack_bf16(p0, p1);
      *reinterpret_cast<uint32_t*>(p_s + swizzled(row0 + 8, chunk, 8) + t * 4) = pack_bf16(p2, p3);
    }
#pragma unroll
    for (int n = 0; n < P::kOutTiles; ++n) {
      o[n][0] *= alpha[0];
      o[n][1] *= alpha[0];
      o[n][2] *= alpha[1];
      o[n][3] *= alpha[1];
    }
    __syncthreads();  // the pair's probabilities are in place

    // o += P @ V over this warp's half of the value channels.
#pragma unroll
    for (int ks = 0; ks < kBlockKeys / 16; ++ks) {
      uint32_t pa[4];
      ldmatrix_x4(p_tile + swizzled(tile * 16 + lane % 16, ks * 2 + lane / 16, 8), pa);
#pragma unroll
      for (int np = 0; np < P::kOutTiles / 2; ++np) {
        uint32_t vb[4];
        const int key = ks * 16 + lane % 8 + ((lane / 8) % 2) * 8;
        const int chunk = half * (kDv / 16) + np * 2 + lane / 16;
        ldmatrix_x4_trans(kv_tile + swizzled(key, chunk, P::kRowChunks), vb);
        mma_bf16(o[2 * np], pa, vb[0], vb[1]);
        mma_bf16(o[2 * np + 1], pa, vb[2], vb[3]);
      }
    }
  }
  cp_async_wait<0>();

  // The pair's partial sums make the softmax denominator.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    if (t == 0) red_sum[half * P::kHeads + row0 + 8 * r] = l[r];
  }
  __syncthreads();
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
    const float total = red_sum[row] + red_sum[P::kHeads + row];
    inv[r] = total > 0.f ? 1.f / total : 0.f;
    if (half == 0 && t == 0)
      a.lse[query * a.heads + head0 + row] = total > 0.f ? m[r] * kLn2 + logf(total) : -INFINITY;
  }
  bf16* out_rows = a.out + (query * a.heads + head0) * kDv;
#pragma unroll
  for (int n = 0; n < P::kOutTiles; ++n) {
    const int col = half * (kDv / 2) + n * 8 + 2 * t;
    *reinterpret_cast<uint32_t*>(out_rows + row0 * kDv + col) = pack_bf16(o[n][0] * inv[0], o[n][1] * inv[0]);
    *reinterpret_cast<uint32_t*>(out_rows + (row0 + 8) * kDv + col) = pack_bf16(o[n][2] * inv[1], o[n][3] * inv[1]);
  }
}

template <int kDqk, int kDv, int kHeadTiles>
cudaError_t launch(const Args& a, int64_t s_q, cudaStream_t stream) {
  using P = Plan<kDqk, kDv, kHeadTiles>;
  return mla::launch_per_query<sparse_mla_forward_kernel<kDqk, kDv, kHeadTiles>, P>(a, s_q, a.heads, stream);
}

template <int kDqk, int kDv>
cudaError_t launch_for_heads(const Args& a, int64_t s_q, cudaStream_t stream) {
  if (a.heads % 64 == 0) return launch<kDqk, kDv, 4>(a, s_q, stream);
  if (a.heads % 32 == 0) return launch<kDqk, kDv, 2>(a, s_q, stream);
  return launch<kDqk, kDv, 1>(a, s_q, stream);
}

}  // namespace

cudaError_t sparse_mla_forward_cuda(const bf16* q, const bf16* kv, const int32_t* indices, bf16* out, float* lse,
                                    const SparseMlaShape& shape, float scale, cudaStream_t stream) {
  if (!sparse_mla_cuda_supports(shape.heads, shape.d_qk, shape.d_v) || shape.topk < 0 || shape.topk > (1 << 30))
    return cudaErrorInvalidValue;
  if (shape.s_q == 0) return cudaSuccess;
  const Args a{q, kv, indices, out, lse, static_cast<int>(shape.heads), static_cast<int>(shape.topk), shape.n_kv,
               scale * kLog2e};
  if (shape.d_qk == 576) return launch_for_heads<576, 512>(a, shape.s_q, stream);
  return launch_for_heads<288, 256>(a, shape.s_q, stream);
}

}  // namespace dsrl::kernels
