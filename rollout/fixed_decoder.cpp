#include "rollout/fixed_decoder.h"

#include <ATen/ATen.h>
#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#endif

#include "common/error.h"
#include "common/log.h"

namespace dsrl::rollout_engine {

struct FixedDecoder::Bucket {
  at::Tensor tokens;   // [P, 1] int64 on the device: the graph's inputs
  at::Tensor lengths;  // [P] int64
  at::Tensor host;     // [2, P] int64 pinned: tokens and lengths staged for one copy
  ForwardResult out;   // the graph's outputs
#ifdef DSRL_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
};

FixedDecoder::FixedDecoder(DeepseekV32 model, KVCache* cache, const at::Device& device)
    : model_(std::move(model)), cache_(cache), device_(device) {
#ifndef DSRL_CUDA
  DSRL_CHECK(!device.is_cuda(), "CUDA-graph decoding needs a -DDSRL_CUDA=ON build");
#endif
}

FixedDecoder::~FixedDecoder() = default;

// Powers of two up to 32, then steps of a quarter of the next power: at most ~25% padding, few captures.
int64_t FixedDecoder::bucket_size(int64_t n) const {
  int64_t size = 1;
  while (size < n && size < 32) size *= 2;
  if (size < n) {
    int64_t power = 32;
    while (power * 2 < n) power *= 2;
    size = power + ((n - power + power / 4 - 1) / (power / 4)) * (power / 4);
  }
  return std::min(size, cache_->rows());
}

ForwardResult FixedDecoder::run(const at::Tensor& tokens, const at::Tensor& lengths) {
  ForwardOptions o;
  o.cache = cache_;
  o.decode_lengths = lengths;
  o.record = true;  // routes and selections are computed anyway; the engine copies out what was asked for
  o.record_topk = true;
  cache_->set_window(0, tokens.size(0));
  return model_->forward(tokens, o);
}

FixedDecoder::Bucket& FixedDecoder::prepare(int64_t size) {
  auto& slot = buckets_[size];
  if (slot) return *slot;
  slot = std::make_unique<Bucket>();
  const auto on = at::TensorOptions().dtype(at::kLong).device(device_);
  slot->tokens = at::zeros({size, 1}, on);
  slot->lengths = at::zeros({size}, on);
  slot->host = at::zeros({2, size}, at::TensorOptions().dtype(at::kLong).pinned_memory(device_.is_cuda()));
  return *slot;
}

#ifdef DSRL_CUDA
void FixedDecoder::capture(Bucket& b) {
  // Warm up eagerly (lazy library handles, allocator) on a side stream, then capture; the warm-up performs this
  // step's cache writes, which the replay repeats with the same values.
  at::cuda::device_synchronize();
  at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
  try {
    at::cuda::CUDAStreamGuard guard(side);
    run(b.tokens, b.lengths);
    b.graph = std::make_unique<at::cuda::CUDAGraph>();
    b.graph->capture_begin();
    b.out = run(b.tokens, b.lengths);
    b.graph->capture_end();
    at::cuda::device_synchronize();
    logger("rollout")->info("decode: captured a CUDA graph for {} rows", b.tokens.size(0));
  } catch (const std::exception& e) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(side.stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
      cudaGraph_t abandoned = nullptr;  // end the broken capture so the stream is usable again
      if (cudaStreamEndCapture(side.stream(), &abandoned) == cudaSuccess && abandoned) cudaGraphDestroy(abandoned);
    }
    (void)cudaGetLastError();
    b.graph.reset();
    b.out = ForwardResult();
    graphs_failed_ = true;
    logger("rollout")->error("decode: CUDA-graph capture failed, decoding with eager fixed-shape steps: {}", e.what());
  }
}
#endif

const ForwardResult& FixedDecoder::step(const std::vector<int64_t>& tokens, const std::vector<int64_t>& lengths) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  DSRL_CHECK(n >= 1 && n <= cache_->rows() && lengths.size() == tokens.size(), "fixed-shape decode of {} rows "
             "({} lengths) on a cache of {} rows", n, lengths.size(), cache_->rows());
  const int64_t size = bucket_size(n);
  Bucket& b = prepare(size);
  // Padding rows decode token 0 at length 0 of free rows: slot 0 there is rewritten by the next prefill.
  b.host.zero_();
  std::copy(tokens.begin(), tokens.end(), b.host[0].data_ptr<int64_t>());
  std::copy(lengths.begin(), lengths.end(), b.host[1].data_ptr<int64_t>());
  // Non-blocking from pinned memory; the host buffer is rewritten only after the caller has read this step's
  // outputs, which waits for the stream.
  b.tokens.view({size}).copy_(b.host[0], /*non_blocking=*/true);
  b.lengths.copy_(b.host[1], /*non_blocking=*/true);
  if (!device_.is_cuda()) {
    b.out = run(b.tokens, b.lengths);
    return b.out;
  }
#ifdef DSRL_CUDA
  if (!b.graph && !graphs_failed_) capture(b);
  if (!b.graph) {  // capture failed once: fixed-shape steps run eagerly from then on
    b.out = run(b.tokens, b.lengths);
    return b.out;
  }
  b.graph->replay();
  return b.out;
#else
  DSRL_FAIL("unreachable: a CUDA device in a build without CUDA");
#endif
}

}  // namespace dsrl::rollout_engine
