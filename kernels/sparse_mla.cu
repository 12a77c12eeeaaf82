// Sparse MLA forward on tensor cores. One CTA = one query x 16*kHeadTiles heads (the M side of every MMA);
// it walks the query's selected rows in blocks of 64, gathering each block of kv rows into shared memory with
// cp.async while the previous block is being used (double buffer), and keeps an online softmax.
//
// Split-KV (decoding, few queries): with `splits` > 1 the query's blocks are divided among gridDim.y CTAs, each
// writing its normalised partial output and log-sum-exp in fp32; merge_splits_kernel then weighs the parts by
// their log-sum-exp. The result is the same softmax over all selected rows.
//
// Warps come in pairs per 16-head tile: warp `half` 0/1 computes the scores of keys [32*half, 32*half+32) of the
// block, and later the output channels [half*d_v/2, (half+1)*d_v/2). The pair agrees on the running max through
// shared memory, and the probabilities go through shared memory (bf16) to become the A operand of P @ V.
#include "kernels/sparse_mla_cuda.h"
#include "kernels/sparse_mla_common.cuh"
#include "kernels/tensor_core.cuh"
#include "kernels/wgmma.cuh"

#include <algorithm>

namespace dsrl::kernels {
namespace {

using namespace tc;
using mla::bf16;

constexpr int kBlockKeys = 64;

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

using Args = mla::ForwardArgs;

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
  // This CTA's blocks of the selection: all of them, or its split's share.
  const int all_blocks = (a.topk + kBlockKeys - 1) / kBlockKeys;
  const int split = blockIdx.y, splits = gridDim.y;
  const int split_blocks = (all_blocks + splits - 1) / splits;
  const int first_block = min(all_blocks, split * split_blocks);
  const int num_blocks = min(all_blocks, first_block + split_blocks) - first_block;

  auto gather = [&](int block, uint32_t tile, int32_t* rows) {
    mla::gather_rows<kBlockKeys, P::kLoadChunks, P::kRowChunks, P::kThreads>(
        a.kv, a.n_kv, query_idx, a.topk, (first_block + block) * kBlockKeys, tile, rows);
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
  const int64_t first_head = splits == 1 ? query * a.heads + head0 : (query * splits + split) * a.heads + head0;
  float* lse_rows = splits == 1 ? a.lse : a.part_lse;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
    const float total = red_sum[row] + red_sum[P::kHeads + row];
    inv[r] = total > 0.f ? 1.f / total : 0.f;
    if (half == 0 && t == 0) lse_rows[first_head + row] = total > 0.f ? m[r] * kLn2 + logf(total) : -INFINITY;
  }
#pragma unroll
  for (int n = 0; n < P::kOutTiles; ++n) {
    const int col = half * (kDv / 2) + n * 8 + 2 * t;
    const int64_t at0 = (first_head + row0) * kDv + col, at1 = at0 + 8 * kDv;
    if (splits == 1) {
      *reinterpret_cast<uint32_t*>(a.out + at0) = pack_bf16(o[n][0] * inv[0], o[n][1] * inv[0]);
      *reinterpret_cast<uint32_t*>(a.out + at1) = pack_bf16(o[n][2] * inv[1], o[n][3] * inv[1]);
    } else {
      *reinterpret_cast<float2*>(a.part_out + at0) = make_float2(o[n][0] * inv[0], o[n][1] * inv[0]);
      *reinterpret_cast<float2*>(a.part_out + at1) = make_float2(o[n][2] * inv[1], o[n][3] * inv[1]);
    }
  }
}

// One CTA per (query, head), one thread per 4 value channels: out = sum_s w_s o_s / sum_s w_s with
// w_s = exp(lse_s - max lse), and lse = max + log(sum w) (-inf and zeros where no part selected anything).
template <int kDv>
__global__ void __launch_bounds__(kDv / 4) merge_splits_kernel(Args a, int splits) {
  const int64_t row = blockIdx.x, query = row / a.heads, head = row % a.heads;
  const float* lse = a.part_lse + query * splits * a.heads + head;  // part s at lse[s * heads]
  float top = -INFINITY;
  for (int s = 0; s < splits; ++s) top = fmaxf(top, lse[s * a.heads]);
  float acc[4] = {}, total = 0.f;
  if (top != -INFINITY) {
    for (int s = 0; s < splits; ++s) {
      const float w = __expf(lse[s * a.heads] - top);
      const float4 o = *reinterpret_cast<const float4*>(
          a.part_out + ((query * splits + s) * a.heads + head) * kDv + threadIdx.x * 4);
      acc[0] += w * o.x, acc[1] += w * o.y, acc[2] += w * o.z, acc[3] += w * o.w;
      total += w;
    }
  }
  const float inv = total > 0.f ? 1.f / total : 0.f;
  bf16* out = a.out + row * kDv + threadIdx.x * 4;
  *reinterpret_cast<uint32_t*>(out) = pack_bf16(acc[0] * inv, acc[1] * inv);
  *reinterpret_cast<uint32_t*>(out + 2) = pack_bf16(acc[2] * inv, acc[3] * inv);
  if (threadIdx.x == 0) a.lse[row] = total > 0.f ? top + logf(total) : -INFINITY;
}

// The parts of a split-KV launch merged into out and lse (nothing to do for one part).
template <int kDv>
cudaError_t merge_splits(cudaError_t launched, const Args& a, int64_t s_q, int splits, cudaStream_t stream) {
  if (launched != cudaSuccess || splits == 1) return launched;
  merge_splits_kernel<kDv><<<static_cast<unsigned>(s_q * a.heads), kDv / 4, 0, stream>>>(a, splits);
  return cudaGetLastError();
}

template <int kDqk, int kDv, int kHeadTiles>
cudaError_t launch(const Args& a, int64_t s_q, int splits, cudaStream_t stream) {
  using P = Plan<kDqk, kDv, kHeadTiles>;
  return merge_splits<kDv>(
      mla::launch_per_query<sparse_mla_forward_kernel<kDqk, kDv, kHeadTiles>, P>(a, s_q, a.heads, stream, splits), a,
      s_q, splits, stream);
}

template <int kDqk, int kDv>
cudaError_t launch_for_heads(const Args& a, int64_t s_q, int splits, cudaStream_t stream) {
  if (a.heads % 64 == 0) return launch<kDqk, kDv, 4>(a, s_q, splits, stream);
  if (a.heads % 32 == 0) return launch<kDqk, kDv, 2>(a, s_q, splits, stream);
  return launch<kDqk, kDv, 1>(a, s_q, splits, stream);
}

int heads_per_cta(int64_t heads) { return heads % 64 == 0 ? 64 : heads % 32 == 0 ? 32 : 16; }

}  // namespace

int sparse_mla_forward_splits(const SparseMlaShape& shape) {
  static const int sms = [] {
    int device = 0, count = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 0;
    return count;
  }();
  if (shape.heads <= 0 || shape.s_q <= 0 || sms == 0) return 1;
  const int64_t ctas = shape.s_q * (shape.heads / heads_per_cta(shape.heads));
  const int64_t blocks = (shape.topk + kBlockKeys - 1) / kBlockKeys;
  // As many parts as fit in one wave of SMs (one CTA each), each part keeping at least 4 blocks (256 rows): below
  // that the merge costs more than the parts save (measured: 64 queries x 16 heads x top-256 ran 0.019 ms in one
  // part, 0.022 in two). None when the queries alone fill half the SMs.
  const int64_t wanted = sms / ctas, most = std::max<int64_t>(1, blocks / 4);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({wanted, most, 64})));
}

cudaError_t sparse_mla_forward_cuda(const bf16* q, const bf16* kv, const int32_t* indices, bf16* out, float* lse,
                                    const SparseMlaShape& shape, float scale, cudaStream_t stream, int splits,
                                    float* part_out, float* part_lse, SparseMlaForwardKernel kernel) {
  if (!sparse_mla_cuda_supports(shape.heads, shape.d_qk, shape.d_v) || shape.topk < 0 || shape.topk > (1 << 30) ||
      splits < 1 || splits > 64 || (splits > 1 && (part_out == nullptr || part_lse == nullptr)))
    return cudaErrorInvalidValue;
  if (shape.s_q == 0) return cudaSuccess;
  const Args a{q,         kv, indices, out, lse, part_out, part_lse, static_cast<int>(shape.heads),
               static_cast<int>(shape.topk), shape.n_kv, scale * kLog2e};
  if (shape.d_qk == 576 && shape.heads % 64 == 0 && kernel == SparseMlaForwardKernel::kAuto && wg::wgmma_device())
    return merge_splits<512>(mla::launch_forward_wgmma(a, shape.s_q, splits, stream), a, shape.s_q, splits, stream);
  if (shape.d_qk == 576) return launch_for_heads<576, 512>(a, shape.s_q, splits, stream);
  return launch_for_heads<288, 256>(a, shape.s_q, splits, stream);
}

}  // namespace dsrl::kernels
