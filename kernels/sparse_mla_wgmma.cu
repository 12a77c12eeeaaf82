// Sparse MLA forward on Hopper's warpgroup MMAs (sm_90a), for the V3.2 shape: d_qk 576, d_v 512, heads a multiple
// of 64. One CTA = one query x 64 heads, two warpgroups (256 threads). The CTA walks the query's selected rows in
// blocks of 64, gathering each block's kv rows with cp.async into a tile in the 128-byte swizzle (wgmma.cuh) while
// the previous block is used (double buffer), and keeps an online softmax:
//   1. scores: warpgroup `half` computes S = Q K^T for all 64 heads and keys [32*half, 32*half + 32) of the block
//      (wgmma m64n32k16 over the 576 channels, q and kv both read from shared memory);
//   2. softmax: the two warpgroups agree on each head's running max through shared memory and write their bf16
//      probabilities into one [64 heads, 64 keys] tile;
//   3. values: warpgroup `half` accumulates output channels [256*half, 256*half + 256) of O += P V (wgmma
//      m64n256k16, V read N-major from the same kv tile: a kv row's first 512 channels are its value).
// Split-KV as in sparse_mla.cu: with gridDim.y > 1 each CTA takes its share of the blocks and writes an fp32 part.
#include "kernels/sparse_mla_common.cuh"
#include "kernels/tensor_core.cuh"
#include "kernels/wgmma.cuh"

namespace dsrl::kernels::mla {
namespace {

constexpr int kHeads = 64, kKeys = 64, kDqk = 576, kDv = 512, kThreads = 256;
constexpr int kChunks = kDqk / 8;                 // 16-byte chunks of a q or kv row: 72
constexpr int kPanelBytes = 64 * 128;             // 64 rows x 64 channels (one 128-byte-swizzled panel)
constexpr int kTileBytes = kDqk / 64 * kPanelBytes;  // 9 panels: q, or one block of kv rows (72 KB)
constexpr int kQOffset = 0, kKvOffset = kTileBytes, kPOffset = 3 * kTileBytes;
constexpr int kIdxOffset = kPOffset + kPanelBytes;    // [2, 64] int32: rows of the two buffers
constexpr int kMaxOffset = kIdxOffset + 2 * kKeys * 4;  // [2 halves, 64] fp32: block max, then row sums
constexpr int kSmemBytes = kMaxOffset + 2 * kHeads * 4 + 1024;  // + alignment of the tiles to 1024 bytes

// Chunk c of row r of a tile of 64-row panels: panel c / 8, swizzled inside it.
struct PanelSwizzle {
  __device__ __forceinline__ uint32_t operator()(int row, int chunk) const {
    return (chunk / 8) * kPanelBytes + tc::swizzled(row, chunk % 8, 8);
  }
};

// S[64 heads, this half's 32 keys] = Q K^T over 36 k-steps of 16 channels (4 per panel).
__device__ __forceinline__ void scores(float (&s)[16], uint32_t q_tile, uint32_t kv_tile, int half) {
  wg::fence();
#pragma unroll
  for (int ks = 0; ks < kDqk / 16; ++ks) {
    const uint32_t step = (ks / 4) * kPanelBytes + (ks % 4) * 32;
    wg::mma_m64n32k16(s, wg::sw128_desc(q_tile + step, 16, 1024),
                      wg::sw128_desc(kv_tile + half * 32 * 128 + step, 16, 1024), ks > 0);
  }
  wg::commit();
  wg::wait<0>();
  wg::pin(s);
}

// O[64 heads, this half's 256 channels] += P V over 4 k-steps of 16 keys.
__device__ __forceinline__ void values(float (&o)[128], uint32_t p_tile, uint32_t kv_tile, int half) {
  wg::pin(o);
  wg::fence();
#pragma unroll
  for (int ks = 0; ks < kKeys / 16; ++ks)
    wg::mma_m64n256k16_bn(o, wg::sw128_desc(p_tile + ks * 32, 16, 1024),
                          wg::sw128_desc(kv_tile + half * 4 * kPanelBytes + ks * 16 * 128, kPanelBytes, 1024), 1);
  wg::commit();
  wg::wait<0>();
  wg::pin(o);
}

__global__ void __launch_bounds__(kThreads, 1) sparse_mla_forward_wgmma_kernel(ForwardArgs a) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - tc::smem_addr(smem_raw) % 1024) % 1024);
  const uint32_t q_tile = tc::smem_addr(smem) + kQOffset, kv_tiles = tc::smem_addr(smem) + kKvOffset;
  uint8_t* p_s = smem + kPOffset;
  const uint32_t p_tile = tc::smem_addr(p_s);
  int32_t* idx_s = reinterpret_cast<int32_t*>(smem + kIdxOffset);
  float* red = reinterpret_cast<float*>(smem + kMaxOffset);  // [2 halves, 64 heads]

  const int head_blocks = a.heads / kHeads;
  const int64_t query = blockIdx.x / head_blocks;
  const int head0 = (blockIdx.x % head_blocks) * kHeads;
  const int half = threadIdx.x / 128, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = (threadIdx.x % 128) / 32 * 16 + g;  // this thread's heads: row0 and row0 + 8
  const int32_t* query_idx = a.indices + query * a.topk;
  const int all_blocks = (a.topk + kKeys - 1) / kKeys;
  const int split = blockIdx.y, splits = gridDim.y;
  const int split_blocks = (all_blocks + splits - 1) / splits;
  const int first_block = min(all_blocks, split * split_blocks);
  const int num_blocks = min(all_blocks, first_block + split_blocks) - first_block;

  // The gather: thread tid copies row tid / 4 of a block, chunks tid % 4 + 4j, so it needs one index per block,
  // loaded a block ahead (-1: no row, zeros).
  const int gather_row = threadIdx.x / 4, gather_part = threadIdx.x % 4;
  auto row_of = [&](int block) -> int32_t {
    const int key = (first_block + block) * kKeys + gather_row;
    if (block >= num_blocks || key >= a.topk) return -1;
    const int32_t id = __ldg(query_idx + key);
    return id >= 0 && id < a.n_kv ? id : -1;
  };
  auto gather = [&](int32_t id, int buf) {
    const uint32_t tile = kv_tiles + buf * kTileBytes;
    const bf16* src = a.kv + (id >= 0 ? static_cast<int64_t>(id) * kDqk : 0);
#pragma unroll
    for (int j = 0; j < kChunks / 4; ++j) {
      const int chunk = gather_part + 4 * j;
      tc::cp_async_16(tile + PanelSwizzle()(gather_row, chunk), src + chunk * 8, id >= 0);
    }
    if (gather_part == 0) idx_s[buf * kKeys + gather_row] = id;
  };
  static_assert(kThreads == 4 * kKeys, "four threads gather each row");
  copy_rows_to<kHeads, kChunks, kThreads, PanelSwizzle>(a.q + (query * a.heads + head0) * kDqk, q_tile);
  gather(row_of(0), 0);
  tc::cp_async_commit();
  int32_t next_row = row_of(1);

  float o[128] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows row0 and row0 + 8, base-2 units
  for (int block = 0; block < num_blocks; ++block) {
    const int buf = block & 1;
    const uint32_t kv_tile = kv_tiles + buf * kTileBytes;
    tc::cp_async_wait<0>();
    wg::fence_shared_for_mma();
    __syncthreads();  // this block has landed, and both warpgroups are done with the other buffer
    if (block + 1 < num_blocks) {
      gather(next_row, buf ^ 1);
      next_row = row_of(block + 2);
    }
    tc::cp_async_commit();

    float s[16] = {};
    scores(s, q_tile, kv_tile, half);

    // Mask, scale, and this half's max of each row; the pair's common max through shared memory.
    float block_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int key = half * 32 + (i / 4) * 8 + 2 * t + (i & 1);
      s[i] = idx_s[buf * kKeys + key] >= 0 ? s[i] * a.scale_log2 : -INFINITY;
      block_max[(i / 2) & 1] = fmaxf(block_max[(i / 2) & 1], s[i]);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 1));
      block_max[r] = fmaxf(block_max[r], __shfl_xor_sync(0xffffffffu, block_max[r], 2));
      if (t == 0) red[half * kHeads + row0 + 8 * r] = block_max[r];
    }
    __syncthreads();
    float alpha[2], base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = row0 + 8 * r;
      const float m_new = fmaxf(m[r], fmaxf(red[row], red[kHeads + row]));
      base[r] = m_new == -INFINITY ? 0.f : m_new;  // nothing valid yet: every probability is exp2(-inf) = 0
      alpha[r] = exp2f(m[r] - base[r]);
      m[r] = m_new;
      l[r] *= alpha[r];
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const float p0 = exp2f(s[4 * nt] - base[0]), p1 = exp2f(s[4 * nt + 1] - base[0]);
      const float p2 = exp2f(s[4 * nt + 2] - base[1]), p3 = exp2f(s[4 * nt + 3] - base[1]);
      l[0] += p0 + p1;
      l[1] += p2 + p3;
      const int chunk = half * 4 + nt;  // keys 32 * half + 8 * nt .. + 7
      *reinterpret_cast<uint32_t*>(p_s + tc::swizzled(row0, chunk, 8) + t * 4) = tc::pack_bf16(p0, p1);
      *reinterpret_cast<uint32_t*>(p_s + tc::swizzled(row0 + 8, chunk, 8) + t * 4) = tc::pack_bf16(p2, p3);
    }
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] *= alpha[(i / 2) & 1];
    wg::fence_shared_for_mma();
    __syncthreads();  // both halves' probabilities are in place (and the maxima read before they are rewritten)

    values(o, p_tile, kv_tile, half);
  }
  tc::cp_async_wait<0>();

  // The pair's partial sums make the softmax denominator.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  __syncthreads();  // every thread has read the last block's maxima
#pragma unroll
  for (int r = 0; r < 2; ++r)
    if (t == 0) red[half * kHeads + row0 + 8 * r] = l[r];
  __syncthreads();
  float inv[2];
  const int64_t first_head = splits == 1 ? query * a.heads + head0 : (query * splits + split) * a.heads + head0;
  float* lse_rows = splits == 1 ? a.lse : a.part_lse;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
    const float total = red[row] + red[kHeads + row];
    inv[r] = total > 0.f ? 1.f / total : 0.f;
    if (half == 0 && t == 0) lse_rows[first_head + row] = total > 0.f ? m[r] * tc::kLn2 + logf(total) : -INFINITY;
  }
#pragma unroll
  for (int n = 0; n < 32; ++n) {
    const int col = half * (kDv / 2) + n * 8 + 2 * t;
    const int64_t at0 = (first_head + row0) * kDv + col, at1 = at0 + 8 * kDv;
    if (splits == 1) {
      *reinterpret_cast<uint32_t*>(a.out + at0) = tc::pack_bf16(o[4 * n] * inv[0], o[4 * n + 1] * inv[0]);
      *reinterpret_cast<uint32_t*>(a.out + at1) = tc::pack_bf16(o[4 * n + 2] * inv[1], o[4 * n + 3] * inv[1]);
    } else {
      *reinterpret_cast<float2*>(a.part_out + at0) = make_float2(o[4 * n] * inv[0], o[4 * n + 1] * inv[0]);
      *reinterpret_cast<float2*>(a.part_out + at1) = make_float2(o[4 * n + 2] * inv[1], o[4 * n + 3] * inv[1]);
    }
  }
}

struct WgmmaPlan {
  static constexpr int kHeads = mla::kHeads;
  static constexpr int kThreads = mla::kThreads;
  static constexpr int kSmemBytes = mla::kSmemBytes;
};

}  // namespace

cudaError_t launch_forward_wgmma(const ForwardArgs& a, int64_t s_q, int splits, cudaStream_t stream) {
  if (a.heads % kHeads != 0) return cudaErrorInvalidValue;
  return launch_per_query<sparse_mla_forward_wgmma_kernel, WgmmaPlan>(a, s_q, a.heads, stream, splits);
}

}  // namespace dsrl::kernels::mla

namespace dsrl::kernels::wg {

bool wgmma_device() {
  static const bool yes = [] {
    int device = 0, major = 0, minor = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
           cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) == cudaSuccess && major == 9 &&
           minor == 0;
  }();
  return yes;
}

}  // namespace dsrl::kernels::wg
