// One CTA of 1024 threads groups all slots by expert:
//   1. counts per expert (shared-memory atomics), then their running sum: each expert's first row and `ends`;
//   2. the slots in chunks of 1024, one per thread, in slot order. Within a warp, __match_any_sync finds the lanes
//      with the same expert and a lane's rank among them; a [warp, expert] table of those counts gives the lanes of
//      earlier warps; each expert's cursor then moves past the chunk. The order inside an expert is the slot order.
#include "kernels/moe_dispatch_cuda.h"

namespace dsrl::kernels {
namespace {

constexpr int kThreads = 1024, kWarps = kThreads / 32, kMaxExperts = static_cast<int>(kMoeDispatchMaxExperts);

__global__ void __launch_bounds__(kThreads) moe_dispatch_kernel(const int64_t* __restrict__ ids, int64_t slots,
                                                                int experts, int64_t* order, int64_t* rows,
                                                                int32_t* ends) {
  __shared__ int next[kMaxExperts];               // counts, then each expert's next free row
  __shared__ int in_warp[kWarps][kMaxExperts];    // this chunk: slots of expert e in warp w
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  auto expert_of = [&](int64_t s) { return static_cast<int>(min(max(ids[s], int64_t{0}), int64_t{experts - 1})); };
  for (int e = tid; e < experts; e += kThreads) next[e] = 0;
  for (int i = tid; i < kWarps * kMaxExperts; i += kThreads) in_warp[i / kMaxExperts][i % kMaxExperts] = 0;
  __syncthreads();
  for (int64_t s = tid; s < slots; s += kThreads) atomicAdd(&next[expert_of(s)], 1);
  __syncthreads();
  if (tid == 0) {
    int end = 0;
    for (int e = 0; e < experts; ++e) {
      const int count = next[e];
      next[e] = end;
      end += count;
      ends[e] = end;
    }
  }
  __syncthreads();
  const unsigned below = (1u << lane) - 1u;
  for (int64_t base = 0; base < slots; base += kThreads) {
    const int64_t s = base + tid;
    const int e = s < slots ? expert_of(s) : -1;  // -1: past the end, a group of its own
    const unsigned peers = __match_any_sync(0xffffffffu, e);
    const bool leader = (peers & below) == 0;
    if (e >= 0 && leader) in_warp[warp][e] = __popc(peers);
    __syncthreads();
    if (e >= 0) {
      int row = next[e] + __popc(peers & below);
      for (int w = 0; w < warp; ++w) row += in_warp[w][e];
      order[row] = s;
      rows[s] = row;
    }
    __syncthreads();
    for (int x = tid; x < experts; x += kThreads) {
      int chunk = 0;
      for (int w = 0; w < kWarps; ++w) chunk += in_warp[w][x];
      next[x] += chunk;
    }
    __syncthreads();
    if (e >= 0 && leader) in_warp[warp][e] = 0;
    __syncwarp();  // the resets land before the warp's leaders of the next chunk write
  }
}

}  // namespace

cudaError_t moe_dispatch_cuda(const int64_t* ids, int64_t slots, int64_t experts, int64_t* order, int64_t* rows,
                              int32_t* ends, cudaStream_t stream) {
  if (experts < 1 || experts > kMoeDispatchMaxExperts || slots < 0 || slots >= (int64_t{1} << 31))
    return cudaErrorInvalidValue;
  moe_dispatch_kernel<<<1, kThreads, 0, stream>>>(ids, slots, static_cast<int>(experts), order, rows, ends);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
