// What the sparse MLA kernels (forward and backward) and the indexer's selected-score kernels share: whole rows
// copied with cp.async into swizzled tiles (tensor_core.cuh), the gather of a query's selected rows, the backward's
// dq step and paired atomics, and the launch of one CTA per query and head group.
#pragma once

#include <cuda_runtime.h>

#include "kernels/tensor_core.cuh"

namespace dsrl::kernels::mla {

using bf16 = __nv_bfloat16;

// The sparse MLA forward kernels' arguments (sparse_mla.cu, sparse_mla_wgmma.cu).
struct ForwardArgs {
  const bf16* q;
  const bf16* kv;
  const int32_t* indices;
  bf16* out;
  float* lse;
  float* part_out;  // [s_q, splits, heads, d_v] fp32 when splits > 1
  float* part_lse;  // [s_q, splits, heads]
  int heads;
  int topk;
  int64_t n_kv;
  float scale_log2;  // softmax scale * log2(e): scores live in base-2 units
};

// The forward at d_qk 576 / d_v 512 with heads a multiple of 64 on Hopper's warpgroup MMAs (sparse_mla_wgmma.cu):
// one CTA per query and 64 heads, `splits` CTAs per query along y (their parts left for the caller to merge).
cudaError_t launch_forward_wgmma(const ForwardArgs& a, int64_t s_q, int splits, cudaStream_t stream);

// Byte offset of 16-byte chunk `chunk` of row `row` in a tile whose rows hold kRowChunks chunks (tc::swizzled).
template <int kRowChunks>
struct RowSwizzle {
  __device__ __forceinline__ uint32_t operator()(int row, int chunk) const {
    return tc::swizzled(row, chunk, kRowChunks);
  }
};

// Copies kRows contiguous rows of kChunks 16-byte chunks (row stride kChunks * 8 elements) into `tile`, chunk
// (row, c) at tile + Layout()(row, c). Issued by all kThreads threads; the caller commits and waits.
template <int kRows, int kChunks, int kThreads, class Layout>
__device__ __forceinline__ void copy_rows_to(const bf16* src, uint32_t tile) {
  for (int c = threadIdx.x; c < kRows * kChunks; c += kThreads) {
    const int row = c / kChunks, chunk = c % kChunks;
    tc::cp_async_16(tile + Layout()(row, chunk), src + row * kChunks * 8 + chunk * 8, true);
  }
}
template <int kRows, int kChunks, int kRowChunks, int kThreads>
__device__ __forceinline__ void copy_rows(const bf16* src, uint32_t tile) {
  copy_rows_to<kRows, kChunks, kThreads, RowSwizzle<kRowChunks>>(src, tile);
}

// Gathers the kv rows named by query_idx[first, first + kRows) into `tile`. Slots past topk and indices outside
// [0, n_kv) become zero rows, and idx_s[row] records the row's index or -1 for them. kThreads / kRows threads copy
// each row, so a thread loads one index per row it copies, not one per chunk: a chain of dependent index loads
// per block was what held the V3.2 forward on warpgroup MMAs at 10.7 ms, against 6.4 with one load per row.
template <int kRows, int kChunks, int kRowChunks, int kThreads>
__device__ __forceinline__ void gather_rows(const bf16* kv, int64_t n_kv, const int32_t* query_idx, int topk,
                                            int first, uint32_t tile, int32_t* idx_s) {
  static_assert(kThreads % kRows == 0, "whole threads per row");
  constexpr int kPerRow = kThreads / kRows;
  const int row = threadIdx.x / kPerRow, part = threadIdx.x % kPerRow;
  const int key = first + row;
  const int32_t id = key < topk ? __ldg(query_idx + key) : -1;
  const bool valid = id >= 0 && id < n_kv;
  const bf16* src = kv + (valid ? static_cast<int64_t>(id) * kChunks * 8 : 0);
#pragma unroll
  for (int chunk = part; chunk < kChunks; chunk += kPerRow)
    tc::cp_async_16(tile + tc::swizzled(row, chunk, kRowChunks), src + chunk * 8, valid);
  if (part == 0) idx_s[row] = valid ? id : -1;
}

// fp32 atomics on two adjacent floats (one 8-byte atomic on sm_90).
__device__ __forceinline__ void add_pair(float* dst, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(dst), make_float2(x, y));
#else
  atomicAdd(dst, x);
  atomicAdd(dst + 1, y);
#endif
}

// The backward kernels' dq step: dq += dS @ k for one block of kBlockKeys gathered rows. dS is the bf16 [heads, 32]
// tile at ds_tile (rows of 8 chunks, swizzled); the warp owns the 16 heads of `tile` and the channel half `half`
// of rows with kDim channels (kRowChunks 16-byte chunks per row) at kv_tile. kDqTiles: n8 tiles per half.
template <int kBlockKeys, int kDim, int kRowChunks, int kDqTiles>
__device__ __forceinline__ void accumulate_dq(float (&dq)[kDqTiles][4], uint32_t ds_tile, uint32_t kv_tile, int tile,
                                              int half) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int ks = 0; ks < kBlockKeys / 16; ++ks) {
    uint32_t da[4];
    tc::ldmatrix_x4(ds_tile + tc::swizzled(tile * 16 + lane % 16, ks * 2 + lane / 16, 8), da);
#pragma unroll
    for (int np = 0; np < kDqTiles / 2; ++np) {
      uint32_t kb[4];
      const int key = ks * 16 + lane % 8 + ((lane / 8) % 2) * 8;
      const int chunk = half * (kDim / 16) + np * 2 + lane / 16;
      tc::ldmatrix_x4_trans(kv_tile + tc::swizzled(key, chunk, kRowChunks), kb);
      tc::mma_bf16(dq[2 * np], da, kb[0], kb[1]);
      tc::mma_bf16(dq[2 * np + 1], da, kb[2], kb[3]);
    }
  }
}

// Launches kKernel with one CTA per (query, group of Plan::kHeads heads) along x and `splits` along y,
// Plan::kThreads threads and Plan::kSmemBytes of dynamic shared memory (the opt-in above 48 KB is set once per
// process, before any graph capture; dsrl runs one GPU per process).
template <auto kKernel, class Plan, class Args>
cudaError_t launch_per_query(const Args& a, int64_t s_q, int heads, cudaStream_t stream, int splits = 1) {
  static const cudaError_t attribute =
      cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Plan::kSmemBytes);
  if (attribute != cudaSuccess) return attribute;
  const int64_t blocks = s_q * (heads / Plan::kHeads);
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  kKernel<<<dim3(static_cast<unsigned>(blocks), splits), Plan::kThreads, Plan::kSmemBytes, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels::mla
