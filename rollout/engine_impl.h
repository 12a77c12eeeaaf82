// The rollout engine's internals (torch), shared by engine_impl.cpp (lifecycle, requests, the loop, weight swaps)
// and engine_step.cpp (prefill, decode, sampling, traces, retiring). Only the engine library includes it; its
// users see engine.h.
//
// One thread owns the model and the KV cache and runs
//   admit queued sequences into free rows -> prefill them -> one decode step for every running row -> retire the
//   finished ones (compacting the rows) -> install a pending weight update when no running sequence forbids it.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/rate_window.h"
#include "model/kv_cache.h"
#include "model/sampling.h"
#include "model/transformer.h"
#include "rollout/engine.h"
#include "rollout/fixed_decoder.h"
#include "rollout/weight_staging.h"

namespace dsrl::rollout_engine {

// A sample's own random stream (splitmix64): its draws do not depend on who shares the batch.
struct Stream {
  uint64_t state;
  double uniform() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
};

class Job;

struct Sequence {
  Job* job = nullptr;
  const std::vector<int64_t>* prompt = nullptr;
  Stream stream{0};
  int64_t row = -1;       // KV-cache row while running
  int64_t pending = -1;   // the last sampled token, not yet fed to the model
  GeneratedSample out;
  std::vector<std::vector<uint16_t>> routing;  // per MoE layer: k ids per fed token
  std::vector<std::vector<int32_t>> indexer;   // per layer: index_topk positions per fed token
};

class Job : public GenerationJob {
 public:
  // on_cancel tells the engine to look for cancelled sequences (and wakes it).
  Job(GenerationRequest r, std::function<void()> on_cancel) : request(std::move(r)), on_cancel_(std::move(on_cancel)) {}
  bool wait_for(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mutex_);
    return done_.wait_for(lock, timeout, [&] { return unfinished == 0; });
  }
  void cancel() override {
    cancelled = true;
    on_cancel_();
  }
  std::vector<GeneratedSample> take_samples() override {
    std::vector<GeneratedSample> out;
    for (auto& s : sequences) out.push_back(std::move(s->out));
    return out;
  }
  void finish_one() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--unfinished == 0) done_.notify_all();
  }

  GenerationRequest request;
  SamplingParams params;
  std::vector<std::unique_ptr<Sequence>> sequences;
  int64_t unfinished = 0;
  std::atomic<bool> cancelled{false};

 private:
  std::function<void()> on_cancel_;
  std::mutex mutex_;
  std::condition_variable done_;
};

class EngineImpl;

class WeightUpdateImpl : public WeightUpdate {
 public:
  WeightUpdateImpl(EngineImpl& engine, const std::map<std::string, ParamSlot>* slots, uint64_t version)
      : engine_(engine), staging_(slots, version) {}
  void add(const WeightPiece& piece) override { staging_.add(piece); }
  Result commit() override;

 private:
  EngineImpl& engine_;
  WeightStaging staging_;
};

class EngineImpl : public Engine {
 public:
  explicit EngineImpl(const RolloutServiceConfig& config);
  ~EngineImpl() override;
  std::shared_ptr<GenerationJob> submit(GenerationRequest request) override;
  std::unique_ptr<WeightUpdate> begin_update() override {
    return std::make_unique<WeightUpdateImpl>(*this, &slots_, version_.load());
  }
  EngineStatus status() override;
  // Hands a complete staging to the engine thread and waits until it is installed.
  void install(const WeightStaging& staging);

 private:
  void wake() { wakeup_.notify_all(); }
  void validate(const GenerationRequest& r) const;
  void loop();
  void admit(std::vector<Sequence*>& admitted);
  void drop_cancelled();  // under mutex_: cancelled sequences leave the queue and their rows
  void prefill(const std::vector<Sequence*>& fresh);
  void decode();
  // Samples the next token of each sequence from its logits row [n, V]; retires the finished ones.
  void take_tokens(const std::vector<Sequence*>& seqs, const at::Tensor& logits);
  // A forward over the cache recording what any of `seqs` asked for.
  ForwardOptions traced_forward(const std::vector<Sequence*>& seqs);
  void record_traces(const std::vector<Sequence*>& seqs, const ForwardResult& r, const std::vector<int64_t>& fed);
  void finish(Sequence* s, FinishReason why);
  void retire(Sequence* s);
  bool swap_allowed() const;
  void apply_swap();

  RolloutServiceConfig config_;
  at::Device device_;
  DeepseekV32 model_{nullptr};
  ModelConfig mc_;
  std::unique_ptr<KVCache> cache_;
  std::unique_ptr<FixedDecoder> fixed_;  // engine.decode_graphs: the decode steps, else eager forwards
  int64_t max_context_ = 0;
  std::map<std::string, ParamSlot> slots_;
  std::map<std::string, at::Tensor> views_;  // checkpoint name -> the model's tensor (a view for experts)

  std::mutex mutex_;  // guards queue_, stop_, swap_
  std::condition_variable wakeup_;
  std::deque<std::pair<std::shared_ptr<Job>, Sequence*>> queue_;
  bool stop_ = false;
  std::atomic<bool> cancel_requested_{false};  // some job was cancelled: sweep the queue and the rows
  const WeightStaging* swap_ = nullptr;  // an update waiting to be installed
  std::condition_variable swapped_;
  std::mutex update_mutex_;             // one commit at a time

  std::vector<Sequence*> running_;      // running_[row]; engine thread only
  std::map<Job*, std::shared_ptr<Job>> live_;  // jobs with running sequences; engine thread only
  std::atomic<uint64_t> version_{0};
  std::atomic<int64_t> running_count_{0}, queued_count_{0}, cached_tokens_{0}, prefills_{0};
  std::mutex stats_mutex_;
  RateWindow recent_{std::chrono::seconds(5)};  // tokens generated, per decode step
  int64_t mask_bytes_ = 0, mask_tokens_ = 0;
  std::thread thread_;
};

}  // namespace dsrl::rollout_engine
