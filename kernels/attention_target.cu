// The indexer KL's target over the selected keys (attention_target.h) in two kernels on mma.sync tensor cores:
//
// causal_lse_kernel: the rows of one sequence's q, [s_q * heads, dim], all score the same keys (MQA), so a CTA takes
//   128 consecutive rows (8 warps x 16) with their queries in shared memory, streams the keys [0, its largest
//   key_end) through a double buffer in blocks of 64 (32 at 576 channels), and keeps each row's log-sum-exp in
//   base 2. Each thread keeps a partial over the columns it holds; the quad of lanes sharing a row merges them at
//   the end.
//
// selected_probs_kernel: one CTA per query and group of 16 * kHeadTiles heads. It gathers the query's selected rows
//   in blocks of 64; four key groups of warps score 16 keys of a block each, for all the group's heads (one warp)
//   or half of them (two warps, from 32 heads on). The first walk makes the log-sum-exp over the selected keys
//   (merged over lanes, then key groups, in shared memory). Then each key's probability is the sum over the heads
//   of exp(score - lse): from the scores the first walk kept in shared memory where they fit (48 KB; the 286M
//   model's 16 heads x 256 keys take 17), else from a second walk. The recall follows from the two log-sum-exps,
//   which is why the causal kernel runs first.
#include "kernels/attention_target_cuda.h"
#include "kernels/sparse_mla_common.cuh"
#include "kernels/tensor_core.cuh"

#include <climits>

namespace dsrl::kernels {
namespace {

using namespace tc;
using mla::bf16;

struct Args {
  const bf16* q;
  const bf16* kv;
  const int32_t* key_end;
  const int32_t* sel;
  SelectedTargetOut out;
  int s_q;
  int heads;
  int topk;
  int n_kv;
  float scale_log2;  // scale * log2(e): scores in base-2 units
  int score_stride;  // selected_probs_kernel: floats a head's scores take in shared memory; 0 = not kept
};

// (m, l) += (om, ol) for log-sum-exps kept as a running max m and a sum l of 2^(x - m).
__device__ __forceinline__ void merge_lse(float& m, float& l, float om, float ol) {
  const float top = fmaxf(m, om);
  if (top == -INFINITY) return;
  l = l * exp2f(m - top) + ol * exp2f(om - top);
  m = top;
}

// The running base-2 log-sum-exp of rows g and g + 8 of a 16-row MMA tile, over the columns this thread holds
// (the C fragment of kTiles n8 tiles; masked scores are -inf).
struct RowLse {
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

  template <int kTiles>
  __device__ __forceinline__ void add(const float (&s)[kTiles][4]) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float top = m[r];
#pragma unroll
      for (int nt = 0; nt < kTiles; ++nt) top = fmaxf(top, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
      if (top == -INFINITY) continue;
      float sum = l[r] * exp2f(m[r] - top);
#pragma unroll
      for (int nt = 0; nt < kTiles; ++nt) sum += exp2f(s[nt][2 * r] - top) + exp2f(s[nt][2 * r + 1] - top);
      m[r] = top;
      l[r] = sum;
    }
  }
  // Merges the four lanes of a quad (t = 0..3), which hold the same rows.
  __device__ __forceinline__ void merge_quad() {
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int mask = 1; mask <= 2; mask <<= 1)
        merge_lse(m[r], l[r], __shfl_xor_sync(0xffffffffu, m[r], mask), __shfl_xor_sync(0xffffffffu, l[r], mask));
  }
  __device__ __forceinline__ float log2_total(int r) const { return l[r] > 0.f ? m[r] + log2f(l[r]) : -INFINITY; }
};

// Scores of one warp: its 16 rows at q_row0 of q_tile against 8 * kTiles keys from key0 of kv_tile (both tiles with
// kRowChunks 16-byte chunks a row, swizzled), accumulated over kDim channels into s.
template <int kDim, int kRowChunks, int kTiles>
__device__ __forceinline__ void warp_scores(uint32_t q_tile, int q_row0, uint32_t kv_tile, int key0,
                                            float (&s)[kTiles][4]) {
  static_assert(kTiles % 2 == 0, "keys come in pairs of n8 tiles");
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int nt = 0; nt < kTiles; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll 6  // 288 and 576 channels are 18 and 36 steps; full unrolling made 576 x 64 heads spill
  for (int ks = 0; ks < kDim / 16; ++ks) {
    uint32_t qa[4];
    ldmatrix_x4(q_tile + swizzled(q_row0 + lane % 16, ks * 2 + lane / 16, kRowChunks), qa);
#pragma unroll
    for (int pair = 0; pair < kTiles / 2; ++pair) {
      uint32_t kb[4];
      const int key = key0 + pair * 16 + lane % 8 + (lane / 16) * 8;
      ldmatrix_x4(kv_tile + swizzled(key, ks * 2 + (lane / 8) % 2, kRowChunks), kb);
      mma_bf16(s[2 * pair], qa, kb[0], kb[1]);
      mma_bf16(s[2 * pair + 1], qa, kb[2], kb[3]);
    }
  }
}

template <int kDim>
struct CausalPlan {
  static constexpr int kRows = 128;  // (query, head) rows per CTA: 8 warps x 16
  static constexpr int kThreads = 256;
  static constexpr int kBlockKeys = kDim <= 288 ? 64 : 32;  // at 576 two blocks of 64 would not fit beside q
  static constexpr int kLoadChunks = kDim / 8;
  static constexpr int kRowChunks = (kLoadChunks + 7) / 8 * 8;
  static constexpr int kQBytes = kRows * kRowChunks * 16;
  static constexpr int kTileBytes = kBlockKeys * kRowChunks * 16;
  static constexpr int kSmemBytes = kQBytes + 2 * kTileBytes + 16;
};

template <int kDim>
__global__ void __launch_bounds__(CausalPlan<kDim>::kThreads, 1) causal_lse_kernel(Args a) {
  using P = CausalPlan<kDim>;
  extern __shared__ __align__(128) uint8_t smem[];
  int* cta_end = reinterpret_cast<int*>(smem + P::kQBytes + 2 * P::kTileBytes);
  const uint32_t q_tile = smem_addr(smem), kv_tiles = q_tile + P::kQBytes;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t seq = blockIdx.y, rows = static_cast<int64_t>(a.s_q) * a.heads;
  const int64_t r0 = (gridDim.x - 1 - blockIdx.x) * static_cast<int64_t>(P::kRows);  // most keys first
  const int32_t* key_end = a.key_end + seq * a.s_q;
  auto end_of = [&](int64_t row) { return row < rows ? min(max(key_end[row / a.heads], 0), a.n_kv) : 0; };

  if (threadIdx.x == 0) *cta_end = 0;
  const bf16* q = a.q + (seq * rows + r0) * kDim;
  for (int c = threadIdx.x; c < P::kRows * P::kLoadChunks; c += P::kThreads) {
    const int row = c / P::kLoadChunks, chunk = c % P::kLoadChunks;
    const bool real = r0 + row < rows;
    cp_async_16(q_tile + swizzled(row, chunk, P::kRowChunks), real ? q + row * kDim + chunk * 8 : a.q, real);
  }
  __syncthreads();
  if (threadIdx.x < P::kRows) atomicMax(cta_end, end_of(r0 + threadIdx.x));
  __syncthreads();
  const int end = *cta_end, blocks = (end + P::kBlockKeys - 1) / P::kBlockKeys;
  const bf16* kv = a.kv + seq * a.n_kv * static_cast<int64_t>(kDim);
  auto load = [&](int block, uint32_t tile) {
    for (int c = threadIdx.x; c < P::kBlockKeys * P::kLoadChunks; c += P::kThreads) {
      const int row = c / P::kLoadChunks, chunk = c % P::kLoadChunks, key = block * P::kBlockKeys + row;
      const bool real = key < end;
      const int64_t at = real ? static_cast<int64_t>(key) * kDim + chunk * 8 : 0;
      cp_async_16(tile + swizzled(row, chunk, P::kRowChunks), kv + at, real);
    }
  };
  if (blocks > 0) load(0, kv_tiles);
  cp_async_commit();

  const int64_t row_a = r0 + warp * 16 + g;  // this thread's rows: row_a and row_a + 8
  const int ends[2] = {end_of(row_a), end_of(row_a + 8)};
  int warp_end = max(ends[0], ends[1]);
#pragma unroll
  for (int mask = 1; mask < 32; mask <<= 1) warp_end = max(warp_end, __shfl_xor_sync(0xffffffffu, warp_end, mask));

  RowLse lse;
  for (int block = 0; block < blocks; ++block) {
    const int buf = block & 1;
    cp_async_wait<0>();
    __syncthreads();  // this block has landed, and every warp is done with the other buffer
    if (block + 1 < blocks) {
      load(block + 1, kv_tiles + (buf ^ 1) * P::kTileBytes);
      cp_async_commit();
    }
    const int first = block * P::kBlockKeys;
    if (first >= warp_end) continue;  // past every key of this warp's rows
    float s[P::kBlockKeys / 8][4];
    warp_scores<kDim, P::kRowChunks>(q_tile, warp * 16, kv_tiles + buf * P::kTileBytes, 0, s);
#pragma unroll
    for (int nt = 0; nt < P::kBlockKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        s[nt][e] = first + nt * 8 + 2 * t + (e & 1) < ends[e / 2] ? s[nt][e] * a.scale_log2 : -INFINITY;
    lse.add(s);
  }
  cp_async_wait<0>();
  lse.merge_quad();
#pragma unroll
  for (int r = 0; r < 2; ++r)
    if (t == 0 && row_a + 8 * r < rows) a.out.lse_causal[seq * rows + row_a + 8 * r] = lse.log2_total(r) * kLn2;
}

constexpr int kSmemLimit = 227 * 1024;       // opt-in shared memory per CTA on sm_90
constexpr int kKeptScoreBytes = 48 * 1024;  // the most a CTA keeps of its scores between the two walks

template <int kDim, int kHeadTiles>
struct SelectedPlan {
  static constexpr int kHeads = 16 * kHeadTiles;                // heads per CTA
  static constexpr int kHeadSplit = kHeadTiles >= 2 ? 2 : 1;    // warps sharing a block's keys, one head half each
  static constexpr int kWarpTiles = kHeadTiles / kHeadSplit;    // head tiles per warp
  static constexpr int kKeyGroups = 4;                          // 16 keys of a block each
  static constexpr int kWarps = kKeyGroups * kHeadSplit;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBlockKeys = 16 * kKeyGroups;
  static constexpr int kLoadChunks = kDim / 8;
  static constexpr int kRowChunks = (kLoadChunks + 7) / 8 * 8;
  static constexpr int kQBytes = kHeads * kRowChunks * 16;
  static constexpr int kTileBytes = kBlockKeys * kRowChunks * 16;
  // Without the kept scores, which follow (Args::score_stride floats a head).
  static constexpr int kSmemBytes =
      kQBytes + 2 * kTileBytes + (2 * kBlockKeys + 2 * kKeyGroups * kHeads + kHeads + kWarps) * 4;
};

// Floats a head's kept scores take: the selection rounded up to whole blocks, plus 8 to spread the rows over banks.
int kept_score_stride(int topk) { return (topk + 63) / 64 * 64 + 8; }

template <int kDim, int kHeadTiles>
__global__ void __launch_bounds__(SelectedPlan<kDim, kHeadTiles>::kThreads) selected_probs_kernel(Args a) {
  using P = SelectedPlan<kDim, kHeadTiles>;
  extern __shared__ __align__(128) uint8_t smem[];
  int32_t* idx_s = reinterpret_cast<int32_t*>(smem + P::kQBytes + 2 * P::kTileBytes);  // [2, kBlockKeys]
  float* part_m = reinterpret_cast<float*>(idx_s + 2 * P::kBlockKeys);                  // [kKeyGroups, kHeads]
  float* part_l = part_m + P::kKeyGroups * P::kHeads;                                    // [kKeyGroups, kHeads]
  float* lse2_s = part_l + P::kKeyGroups * P::kHeads;                                    // [kHeads], base 2
  float* recall_s = lse2_s + P::kHeads;                                                  // [kWarps]
  float* scores_s = recall_s + P::kWarps;  // [kHeads, score_stride] base-2 scores, when kept
  const uint32_t q_tile = smem_addr(smem), kv_tiles = q_tile + P::kQBytes;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int key_group = warp % P::kKeyGroups, tile0 = (warp / P::kKeyGroups) * P::kWarpTiles;
  const int groups = a.heads / P::kHeads;
  const int64_t query = blockIdx.x / groups, seq = query / a.s_q;
  const int head0 = (blockIdx.x % groups) * P::kHeads;
  const int end = min(max(a.key_end[query], 0), a.n_kv);
  const bf16* kv = a.kv + seq * a.n_kv * static_cast<int64_t>(kDim);
  const int32_t* query_sel = a.sel + query * a.topk;
  const int blocks = (a.topk + P::kBlockKeys - 1) / P::kBlockKeys;
  const bool kept = a.score_stride > 0;

  mla::copy_rows<P::kHeads, P::kLoadChunks, P::kRowChunks, P::kThreads>(a.q + (query * a.heads + head0) * kDim,
                                                                        q_tile);
  // Walks the selected rows in blocks: body(block, s) with this warp's masked base-2 scores s[its head tile][n8]
  // of keys [16 * key_group, +16) of the block.
  auto walk = [&](auto&& body) {
    auto gather = [&](int block, int buf) {
      mla::gather_rows<P::kBlockKeys, P::kLoadChunks, P::kRowChunks, P::kThreads>(
          kv, end, query_sel, a.topk, block * P::kBlockKeys, kv_tiles + buf * P::kTileBytes,
          idx_s + buf * P::kBlockKeys);
    };
    if (blocks > 0) gather(0, 0);
    cp_async_commit();
    for (int block = 0; block < blocks; ++block) {
      const int buf = block & 1;
      cp_async_wait<0>();
      __syncthreads();
      if (block + 1 < blocks) {
        gather(block + 1, buf ^ 1);
        cp_async_commit();
      }
      float s[P::kWarpTiles][2][4];
#pragma unroll
      for (int i = 0; i < P::kWarpTiles; ++i) {
        warp_scores<kDim, P::kRowChunks>(q_tile, (tile0 + i) * 16, kv_tiles + buf * P::kTileBytes, key_group * 16,
                                         s[i]);
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const bool valid = idx_s[buf * P::kBlockKeys + key_group * 16 + nt * 8 + 2 * t + (e & 1)] >= 0;
            s[i][nt][e] = valid ? s[i][nt][e] * a.scale_log2 : -INFINITY;
          }
      }
      body(block, s);
    }
    cp_async_wait<0>();
    __syncthreads();  // every warp is done with both buffers
  };

  // Walk 1: the log-sum-exp over the selected keys, per head; the scores stay in shared memory when they fit.
  RowLse lse[P::kWarpTiles];
  walk([&](int block, const float (&s)[P::kWarpTiles][2][4]) {
#pragma unroll
    for (int i = 0; i < P::kWarpTiles; ++i) {
      lse[i].add(s[i]);
      if (!kept) continue;
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int head = (tile0 + i) * 16 + g + 8 * r, key = block * P::kBlockKeys + key_group * 16 + nt * 8 + 2 * t;
          *reinterpret_cast<float2*>(scores_s + head * a.score_stride + key) =
              make_float2(s[i][nt][2 * r], s[i][nt][2 * r + 1]);
        }
    }
  });
#pragma unroll
  for (int i = 0; i < P::kWarpTiles; ++i) {
    lse[i].merge_quad();
#pragma unroll
    for (int r = 0; r < 2; ++r)
      if (t == 0) {
        part_m[key_group * P::kHeads + (tile0 + i) * 16 + g + 8 * r] = lse[i].m[r];
        part_l[key_group * P::kHeads + (tile0 + i) * 16 + g + 8 * r] = lse[i].l[r];
      }
  }
  __syncthreads();
  float recall = 0.f;
  if (threadIdx.x < P::kHeads) {
    const int h = threadIdx.x;
    float m = part_m[h], l = part_l[h];
    for (int k = 1; k < P::kKeyGroups; ++k) merge_lse(m, l, part_m[k * P::kHeads + h], part_l[k * P::kHeads + h]);
    const float lse2 = l > 0.f ? m + log2f(l) : -INFINITY;
    lse2_s[h] = lse2 == -INFINITY ? 0.f : lse2;  // nothing selected: every score is -inf, and exp2 gives 0
    const int64_t at = query * a.heads + head0 + h;
    a.out.lse_selected[at] = lse2 * kLn2;
    if (lse2 != -INFINITY) recall = exp2f(lse2 - a.out.lse_causal[at] * kLog2e);
  }
#pragma unroll
  for (int mask = 16; mask > 0; mask >>= 1) recall += __shfl_xor_sync(0xffffffffu, recall, mask);
  if (lane == 0) recall_s[warp] = recall;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int w = 0; w < P::kWarps; ++w) total += recall_s[w];
    total /= static_cast<float>(a.heads);
    if (groups == 1) a.out.recall[query] = total;
    else atomicAdd(a.out.recall + query, total);
  }

  // Each key's probability, summed over the heads: from the kept scores, or from a second walk.
  auto put = [&](int key, float sum, bool alone) {
    float* dst = a.out.probs + query * a.topk + key;
    const float p = sum / static_cast<float>(a.heads);
    if (alone) *dst = p;
    else atomicAdd(dst, p);
  };
  if (kept) {
    for (int key = threadIdx.x; key < a.topk; key += P::kThreads) {
      float sum = 0.f;
      for (int h = 0; h < P::kHeads; ++h) sum += exp2f(scores_s[h * a.score_stride + key] - lse2_s[h]);
      put(key, sum, groups == 1);
    }
    return;
  }
  walk([&](int block, const float (&s)[P::kWarpTiles][2][4]) {
    float col[2][2] = {};  // [n8 tile][column 2t, 2t + 1] over this warp's heads
#pragma unroll
    for (int i = 0; i < P::kWarpTiles; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float base = lse2_s[(tile0 + i) * 16 + g + 8 * (e / 2)];
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) col[nt][e & 1] += exp2f(s[i][nt][e] - base);
      }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
#pragma unroll
        for (int mask = 4; mask < 32; mask <<= 1) col[nt][c] += __shfl_xor_sync(0xffffffffu, col[nt][c], mask);
        const int key = block * P::kBlockKeys + key_group * 16 + nt * 8 + 2 * t + c;
        if (g == 0 && key < a.topk) put(key, col[nt][c], groups == 1 && P::kHeadSplit == 1);
      }
  });
}

template <int kDim, int kHeadTiles>
cudaError_t launch_selected(Args a, int64_t queries, cudaStream_t stream) {
  using P = SelectedPlan<kDim, kHeadTiles>;
  constexpr int kMost = P::kSmemBytes + kKeptScoreBytes < kSmemLimit ? P::kSmemBytes + kKeptScoreBytes : kSmemLimit;
  static const cudaError_t attribute =
      cudaFuncSetAttribute(selected_probs_kernel<kDim, kHeadTiles>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMost);
  if (attribute != cudaSuccess) return attribute;
  const int64_t kept_bytes = static_cast<int64_t>(P::kHeads) * kept_score_stride(a.topk) * 4;
  const bool keep = P::kSmemBytes + kept_bytes <= kMost;
  a.score_stride = keep ? kept_score_stride(a.topk) : 0;
  const int64_t ctas = queries * (a.heads / P::kHeads);
  if (ctas > 0x7fffffff) return cudaErrorInvalidValue;
  selected_probs_kernel<kDim, kHeadTiles><<<static_cast<unsigned>(ctas), P::kThreads,
                                            P::kSmemBytes + (keep ? kept_bytes : 0), stream>>>(a);
  return cudaGetLastError();
}

template <int kDim>
cudaError_t launch_causal(const Args& a, int64_t batch, cudaStream_t stream) {
  using P = CausalPlan<kDim>;
  static const cudaError_t attribute =
      cudaFuncSetAttribute(causal_lse_kernel<kDim>, cudaFuncAttributeMaxDynamicSharedMemorySize, P::kSmemBytes);
  if (attribute != cudaSuccess) return attribute;
  const int64_t row_blocks = (static_cast<int64_t>(a.s_q) * a.heads + P::kRows - 1) / P::kRows;
  causal_lse_kernel<kDim><<<dim3(static_cast<unsigned>(row_blocks), static_cast<unsigned>(batch)), P::kThreads,
                            P::kSmemBytes, stream>>>(a);
  return cudaGetLastError();
}

template <int kDim>
cudaError_t launch(const Args& a, int64_t batch, cudaStream_t stream) {
  const cudaError_t causal = launch_causal<kDim>(a, batch, stream);
  if (causal != cudaSuccess) return causal;
  const int64_t queries = batch * a.s_q;
  if (a.heads % 64 == 0) return launch_selected<kDim, 4>(a, queries, stream);
  if (a.heads % 32 == 0) return launch_selected<kDim, 2>(a, queries, stream);
  return launch_selected<kDim, 1>(a, queries, stream);
}

}  // namespace

cudaError_t selected_target_cuda(const bf16* q, const bf16* kv, const int32_t* key_end, const int32_t* sel,
                                 const SelectedTargetOut& out, const SelectedTargetShape& shape, float scale,
                                 cudaStream_t stream) {
  const SelectedTargetShape& s = shape;
  if (!selected_target_cuda_supports(s.heads, s.dim) || s.batch < 0 || s.batch > 65535 || s.s_q < 0 ||
      s.s_q * s.heads > INT_MAX || s.n_kv < 0 || s.n_kv > INT_MAX || s.topk < 0 || s.topk > (1 << 30))
    return cudaErrorInvalidValue;
  const int64_t queries = s.batch * s.s_q;
  if (queries == 0) return cudaSuccess;
  cudaError_t err = cudaMemsetAsync(out.probs, 0, queries * s.topk * sizeof(float), stream);
  if (err == cudaSuccess) err = cudaMemsetAsync(out.recall, 0, queries * sizeof(float), stream);
  if (err != cudaSuccess) return err;
  const Args a{q,
               kv,
               key_end,
               sel,
               out,
               static_cast<int>(s.s_q),
               static_cast<int>(s.heads),
               static_cast<int>(s.topk),
               static_cast<int>(s.n_kv),
               scale * kLog2e,
               0};
  return s.dim == 576 ? launch<576>(a, s.batch, stream) : launch<288>(a, s.batch, stream);
}

}  // namespace dsrl::kernels
