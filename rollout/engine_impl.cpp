// The engine on the model (torch): one thread owns the model and the KV cache and runs
//   admit queued sequences into free rows -> prefill them -> one decode step for every running row -> retire the
//   finished ones (compacting the rows) -> install a pending weight update when no running sequence forbids it.
#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "model/checkpoint.h"
#include "model/kv_cache.h"
#include "model/sampling.h"
#include "proto/sampling_mask.h"
#include "rollout/engine.h"
#include "rollout/weight_staging.h"

namespace dsrl {
namespace {

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

at::ScalarType scalar_type(const std::string& name) {
  static const std::map<std::string, at::ScalarType> types = {
      {"float32", at::kFloat}, {"bfloat16", at::kBFloat16}, {"float16", at::kHalf},
      {"float8_e4m3", at::kFloat8_e4m3fn}, {"int32", at::kInt}, {"int64", at::kLong}};
  return types.at(name);
}

std::string dtype_name(at::ScalarType t) {
  for (const char* n : {"float32", "bfloat16", "float16", "float8_e4m3", "int32", "int64"})
    if (scalar_type(n) == t) return n;
  DSRL_FAIL("no wire dtype for {}", c10::toString(t));
}

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
  std::atomic<int64_t> running_count_{0}, queued_count_{0}, cached_tokens_{0};
  std::mutex stats_mutex_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> recent_;  // (time, tokens) per step
  int64_t mask_bytes_ = 0, mask_tokens_ = 0;
  std::thread thread_;
};

WeightUpdate::Result WeightUpdateImpl::commit() {
  staging_.check_complete();
  engine_.install(staging_);
  return Result{staging_.version(), static_cast<int64_t>(staging_.tensors().size()), staging_.bytes()};
}

EngineImpl::EngineImpl(const RolloutServiceConfig& config)
    : config_(config), device_(config.engine.device == "cuda" ? at::kCUDA : at::kCPU) {
  at::NoGradGuard no_grad;
  model_ = load_model_source(config.model, device_, device_.is_cuda() ? at::kBFloat16 : at::kFloat);
  model_->eval();
  for (auto& p : model_->parameters()) p.set_requires_grad(false);
  mc_ = model_->config();
  max_context_ = config.engine.max_context > 0 ? config.engine.max_context : mc_.max_position_embeddings;
  DSRL_CHECK(max_context_ <= mc_.max_position_embeddings, "engine.max_context {} exceeds the model's "
             "max_position_embeddings {}", max_context_, mc_.max_position_embeddings);
  const at::TensorOptions options = model_->lm_head_weight().options();
  int64_t rows = config.engine.max_sequences;
  const int64_t row_bytes = KVCache(mc_, 1, 1, options).bytes_per_token() * max_context_;
  if (config.engine.kv_cache_mb > 0)
    rows = std::min<int64_t>(rows, static_cast<int64_t>(config.engine.kv_cache_mb * (1 << 20)) / row_bytes);
  DSRL_CHECK(rows >= 1, "engine.kv_cache_mb {} holds no sequence of max_context {} ({} bytes each)",
             config.engine.kv_cache_mb, max_context_, row_bytes);
  cache_ = std::make_unique<KVCache>(mc_, rows, max_context_, options);
  for (auto& [name, tensor] : checkpoint_tensors(model_)) {
    slots_[name] = ParamSlot{tensor.sizes().vec(), dtype_name(tensor.scalar_type()),
                             static_cast<uint64_t>(tensor.numel()) * tensor.element_size()};
    views_[name] = tensor;
  }
  logger("rollout")->info("engine: {} on {}, {} KV-cache rows of {} tokens ({:.1f} MiB)", config.model.checkpoint.empty()
                          ? config.model.config : config.model.checkpoint, device_.str(), rows, max_context_,
                          cache_->bytes() / 1048576.0);
  thread_ = std::thread([this] { loop(); });
}

EngineImpl::~EngineImpl() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake();
  thread_.join();
}

void EngineImpl::validate(const GenerationRequest& r) const {
  using E = RequestError;
  auto bad = [](const std::string& m) { throw E(E::kInvalidArgument, m); };
  if (r.prompts.empty()) bad("prompts is empty: send at least one prompt");
  if (r.samples_per_prompt < 1 || r.samples_per_prompt > config_.engine.max_samples_per_prompt)
    bad(fmt::format("samples_per_prompt must be in [1, {}], got {}", config_.engine.max_samples_per_prompt,
                    r.samples_per_prompt));
  const SamplingSpec& s = r.sampling;
  if (!(s.temperature >= 0) || !std::isfinite(s.temperature))
    bad(fmt::format("sampling.temperature must be a finite number >= 0, got {}", s.temperature));
  if (!(s.top_p >= 0 && s.top_p <= 1)) bad(fmt::format("sampling.top_p must be in [0, 1] (0 or 1: off), got {}", s.top_p));
  if (s.top_k < 0) bad(fmt::format("sampling.top_k must be >= 0, got {}", s.top_k));
  if (s.max_new_tokens < 1 || s.max_new_tokens > max_context_)
    bad(fmt::format("sampling.max_new_tokens must be in [1, {}] (the context), got {}", max_context_,
                    s.max_new_tokens));
  for (int64_t id : s.stop_token_ids)
    if (id < 0 || id >= mc_.vocab_size) bad(fmt::format("stop token id {} outside the vocabulary [0, {})", id, mc_.vocab_size));
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    const auto& p = r.prompts[i];
    if (p.tokens.empty()) bad(fmt::format("prompt {} ('{}') is empty", i, p.id));
    for (int64_t id : p.tokens)
      if (id < 0 || id >= mc_.vocab_size)
        bad(fmt::format("prompt {} ('{}'): token id {} outside the vocabulary [0, {})", i, p.id, id, mc_.vocab_size));
    if (static_cast<int64_t>(p.tokens.size()) >= max_context_)
      throw E(E::kResourceExhausted, fmt::format("prompt {} ('{}') has {} tokens: no room in the worker's context "
                                                 "of {}", i, p.id, p.tokens.size(), max_context_));
  }
}

std::shared_ptr<GenerationJob> EngineImpl::submit(GenerationRequest request) {
  validate(request);
  auto job = std::make_shared<Job>(std::move(request), [this] {
    cancel_requested_ = true;
    wake();
  });
  const SamplingSpec& s = job->request.sampling;
  job->params = SamplingParams{s.temperature, s.top_k, s.top_p};
  for (size_t p = 0; p < job->request.prompts.size(); ++p)
    for (int64_t g = 0; g < job->request.samples_per_prompt; ++g) {
      auto seq = std::make_unique<Sequence>();
      seq->job = job.get();
      seq->prompt = &job->request.prompts[p].tokens;
      seq->stream.state = s.seed ^ (0x9e3779b97f4a7c15ULL * (p + 1)) ^ (0xc2b2ae3d27d4eb4fULL * (g + 1));
      seq->out.prompt_id = job->request.prompts[p].id;
      seq->out.sample_index = g;
      job->sequences.push_back(std::move(seq));
    }
  job->unfinished = static_cast<int64_t>(job->sequences.size());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (static_cast<int64_t>(queue_.size() + job->sequences.size()) > config_.engine.max_queued)
      throw RequestError(RequestError::kResourceExhausted,
                         fmt::format("{} sequences queued already; {} more exceed engine.max_queued {}", queue_.size(),
                                     job->sequences.size(), config_.engine.max_queued));
    for (auto& seq : job->sequences) queue_.emplace_back(job, seq.get());
    queued_count_ = static_cast<int64_t>(queue_.size());
  }
  wake();
  return job;
}

EngineStatus EngineImpl::status() {
  EngineStatus s;
  s.policy_version = version_;
  s.model = config_.model.checkpoint.empty() ? config_.model.config : config_.model.checkpoint;
  s.vocab_size = mc_.vocab_size;
  s.running = running_count_;
  s.queued = queued_count_;
  s.kv_capacity_bytes = cache_->bytes();
  s.kv_used_bytes = cached_tokens_ * cache_->bytes_per_token();
  std::lock_guard<std::mutex> lock(stats_mutex_);
  const auto now = std::chrono::steady_clock::now();
  while (!recent_.empty() && now - recent_.front().first > std::chrono::seconds(5)) recent_.pop_front();
  int64_t tokens = 0;
  for (const auto& r : recent_) tokens += r.second;
  if (!recent_.empty())
    s.tokens_per_second = tokens / std::max(1e-3, std::chrono::duration<double>(now - recent_.front().first).count());
  s.mask_bytes_per_token = mask_tokens_ ? static_cast<double>(mask_bytes_) / mask_tokens_ : 0;
  return s;
}

void EngineImpl::install(const WeightStaging& staging) {
  std::lock_guard<std::mutex> one_at_a_time(update_mutex_);
  std::unique_lock<std::mutex> lock(mutex_);
  if (staging.version() <= version_)
    throw RequestError(RequestError::kInvalidArgument, fmt::format("weight update refused, old weights kept: "
                       "version {} is not above the serving version {}", staging.version(), version_.load()));
  swap_ = &staging;
  wake();
  swapped_.wait(lock, [&] { return swap_ == nullptr || stop_; });
  if (stop_) throw RequestError(RequestError::kFailedPrecondition, "the worker is shutting down");
}

void EngineImpl::loop() {
  c10::InferenceMode inference;
  while (true) {
    std::vector<Sequence*> admitted;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wakeup_.wait(lock, [&] { return stop_ || !running_.empty() || !queue_.empty() || swap_ != nullptr; });
      if (stop_) break;
      if (cancel_requested_.exchange(false)) drop_cancelled();
      if (swap_ && swap_allowed()) apply_swap();
      if (!swap_) admit(admitted);  // a waiting update holds new sequences back until it is in
    }
    try {
      if (!admitted.empty()) prefill(admitted);
      if (!running_.empty()) decode();
    } catch (const std::exception& e) {  // never leave callers hanging: abort what is running, keep serving
      logger("rollout")->error("engine step failed, aborting {} running sequences: {}", running_.size(), e.what());
      while (!running_.empty()) finish(running_.back(), FinishReason::kAborted);
    }
    int64_t cached = 0;
    for (const Sequence* s : running_) cached += cache_->length(s->row);
    cached_tokens_ = cached;
  }
  // Shutting down: every caller gets an answer.
  while (!running_.empty()) finish(running_.back(), FinishReason::kAborted);
  for (auto& [job, seq] : queue_) seq->out.finish = FinishReason::kAborted, job->finish_one();
  queue_.clear();
  swapped_.notify_all();
}

void EngineImpl::admit(std::vector<Sequence*>& admitted) {
  while (!queue_.empty() && static_cast<int64_t>(running_.size()) < cache_->rows()) {
    auto [job, seq] = queue_.front();
    queue_.pop_front();
    if (job->cancelled) {
      seq->out.finish = FinishReason::kAborted;
      job->finish_one();
      continue;
    }
    seq->row = static_cast<int64_t>(running_.size());
    seq->out.policy_versions = {version_};
    cache_->reset_row(seq->row);
    running_.push_back(seq);
    live_[job.get()] = job;
    admitted.push_back(seq);
  }
  running_count_ = static_cast<int64_t>(running_.size());
  queued_count_ = static_cast<int64_t>(queue_.size());
}

void EngineImpl::drop_cancelled() {
  std::deque<std::pair<std::shared_ptr<Job>, Sequence*>> kept;
  for (auto& entry : queue_) {
    if (!entry.first->cancelled) {
      kept.push_back(std::move(entry));
      continue;
    }
    entry.second->out.finish = FinishReason::kAborted;
    entry.first->finish_one();
  }
  queue_.swap(kept);
  queued_count_ = static_cast<int64_t>(queue_.size());
  std::vector<Sequence*> cancelled;
  for (Sequence* s : running_)
    if (s->job->cancelled) cancelled.push_back(s);
  for (Sequence* s : cancelled) finish(s, FinishReason::kAborted);
}

bool EngineImpl::swap_allowed() const {
  for (const Sequence* s : running_)
    if (!s->job->request.allow_version_change) return false;
  return true;
}

void EngineImpl::apply_swap() {
  at::NoGradGuard no_grad;
  for (const auto& [name, staged] : swap_->tensors()) {
    at::Tensor& view = views_.at(name);
    at::Tensor host = at::from_blob(const_cast<char*>(staged.data.data()), view.sizes(),
                                    at::TensorOptions().dtype(view.scalar_type()));
    view.copy_(host);
  }
  version_ = swap_->version();
  for (Sequence* s : running_) s->out.policy_versions.push_back(version_);
  logger("rollout")->info("weights: version {} installed ({} tensors, {} bytes)", version_.load(),
                          swap_->tensors().size(), swap_->bytes());
  swap_ = nullptr;
  swapped_.notify_all();
}

void EngineImpl::prefill(const std::vector<Sequence*>& fresh) {
  const int64_t m = static_cast<int64_t>(fresh.size()), first = fresh.front()->row;
  int64_t longest = 0;
  for (const Sequence* s : fresh) longest = std::max<int64_t>(longest, s->prompt->size());
  at::Tensor tokens = at::zeros({m, longest}, at::kLong);
  std::vector<int64_t> valid;
  for (int64_t i = 0; i < m; ++i) {
    const auto& p = *fresh[i]->prompt;
    valid.push_back(static_cast<int64_t>(p.size()));
    tokens[i].narrow(0, 0, valid.back()).copy_(at::tensor(p, at::kLong));
  }
  cache_->set_window(first, m);
  ForwardOptions o = traced_forward(fresh);
  o.valid = valid;
  ForwardResult r = model_->forward(tokens.to(device_), o);  // logits [m, longest, V]
  record_traces(fresh, r, valid);
  at::Tensor last = at::tensor(valid, at::kLong).sub_(1).to(device_);
  take_tokens(fresh, r.logits.index({at::arange(m, last.options()), last}));  // [m, V]
}

void EngineImpl::decode() {
  const int64_t n = static_cast<int64_t>(running_.size());
  std::vector<Sequence*> seqs = running_;
  std::vector<int64_t> fed;
  for (const Sequence* s : seqs) fed.push_back(s->pending);
  cache_->set_window(0, n);
  ForwardOptions o = traced_forward(seqs);
  ForwardResult r = model_->forward(at::tensor(fed, at::kLong).view({n, 1}).to(device_), o);  // [n, 1, V]
  record_traces(seqs, r, std::vector<int64_t>(n, 1));
  take_tokens(seqs, r.logits.select(1, 0));
}

void EngineImpl::record_traces(const std::vector<Sequence*>& seqs, const ForwardResult& r,
                               const std::vector<int64_t>& fed) {
  if (r.expert_ids.empty() && r.indexer_topk.empty()) return;
  std::vector<at::Tensor> experts, topk;
  for (const auto& e : r.expert_ids) experts.push_back(e.cpu());  // [n, S, k]
  for (const auto& t : r.indexer_topk) {
    at::Tensor padded = at::full({t.size(0), t.size(1), mc_.index_topk}, -1, at::kLong);
    padded.narrow(2, 0, std::min<int64_t>(t.size(2), mc_.index_topk)).copy_(t.narrow(2, 0, std::min<int64_t>(t.size(2), mc_.index_topk)).cpu());
    topk.push_back(padded.to(at::kInt));
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    Sequence* s = seqs[i];
    const GenerationRequest& req = s->job->request;
    if (req.record_routing) {
      s->routing.resize(experts.size());
      for (size_t l = 0; l < experts.size(); ++l) {
        at::Tensor ids = experts[l][i].narrow(0, 0, fed[i]).flatten();
        const int64_t* p = ids.data_ptr<int64_t>();
        s->routing[l].insert(s->routing[l].end(), p, p + ids.numel());
      }
    }
    if (req.record_indexer) {
      s->indexer.resize(topk.size());
      for (size_t l = 0; l < topk.size(); ++l) {
        at::Tensor pos = topk[l][i].narrow(0, 0, fed[i]).contiguous().flatten();
        const int32_t* p = pos.data_ptr<int32_t>();
        s->indexer[l].insert(s->indexer[l].end(), p, p + pos.numel());
      }
    }
  }
}

ForwardOptions EngineImpl::traced_forward(const std::vector<Sequence*>& seqs) {
  ForwardOptions o;
  o.cache = cache_.get();
  o.record_topk = false;
  for (const Sequence* s : seqs) {
    o.record = o.record || s->job->request.record_routing || s->job->request.record_indexer;
    o.record_topk = o.record_topk || s->job->request.record_indexer;
  }
  return o;
}

void EngineImpl::take_tokens(const std::vector<Sequence*>& seqs, const at::Tensor& logits) {
  std::map<Job*, std::vector<int64_t>> groups;  // one sampling config per job
  for (size_t i = 0; i < seqs.size(); ++i) groups[seqs[i]->job].push_back(static_cast<int64_t>(i));
  std::vector<Sequence*> done;
  std::vector<FinishReason> why;
  int64_t mask_bytes = 0, mask_tokens = 0;
  for (auto& [job, rows] : groups) {
    std::vector<double> u;
    for (int64_t i : rows) u.push_back(seqs[i]->stream.uniform());
    at::Tensor index = at::tensor(rows, at::kLong).to(logits.device());
    Sampled smp = sample_tokens(logits.index_select(0, index), job->params, at::tensor(u, at::kDouble));
    at::Tensor tokens = smp.tokens.cpu(), logprobs = smp.logprobs.to(at::kFloat).cpu();
    const bool masks = job->request.record_mask;
    at::Tensor kept = masks ? smp.kept.to(at::kByte).cpu().contiguous() : at::Tensor();
    const SamplingSpec& spec = job->request.sampling;
    for (size_t j = 0; j < rows.size(); ++j) {
      Sequence* s = seqs[rows[j]];
      const int64_t token = tokens[j].item<int64_t>();
      s->out.tokens.push_back(token);
      s->out.logprobs.push_back(logprobs[j].item<float>());
      s->pending = token;
      if (masks) {
        s->out.mask.push_back(encode_kept_set(kept[j].data_ptr<uint8_t>(), kept.size(1)));
        mask_bytes += static_cast<int64_t>(s->out.mask.back().size());
        ++mask_tokens;
      }
      const int64_t generated = static_cast<int64_t>(s->out.tokens.size());
      const bool stop = std::count(spec.stop_token_ids.begin(), spec.stop_token_ids.end(), token) > 0;
      if (stop || generated >= spec.max_new_tokens ||
          static_cast<int64_t>(s->prompt->size()) + generated >= max_context_) {
        done.push_back(s);
        why.push_back(stop ? FinishReason::kStopToken
                           : generated >= spec.max_new_tokens ? FinishReason::kMaxNewTokens
                                                              : FinishReason::kContextLimit);
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    recent_.emplace_back(std::chrono::steady_clock::now(), static_cast<int64_t>(seqs.size()));
    mask_bytes_ += mask_bytes;
    mask_tokens_ += mask_tokens;
  }
  for (size_t i = 0; i < done.size(); ++i) finish(done[i], why[i]);
}

void EngineImpl::finish(Sequence* s, FinishReason why) {
  s->out.finish = why;
  const int64_t k = mc_.num_experts_per_tok;
  if (s->job->request.record_routing && !s->routing.empty()) {
    s->out.routing_layers = static_cast<int64_t>(s->routing.size());
    s->out.experts_per_token = k;
    s->out.routing_tokens = static_cast<int64_t>(s->routing[0].size()) / k;
    for (auto& layer : s->routing) s->out.routing.insert(s->out.routing.end(), layer.begin(), layer.end());
  }
  if (s->job->request.record_indexer && !s->indexer.empty()) {
    s->out.indexer_layers = static_cast<int64_t>(s->indexer.size());
    s->out.indexer_topk = mc_.index_topk;
    s->out.indexer_tokens = static_cast<int64_t>(s->indexer[0].size()) / mc_.index_topk;
    for (auto& layer : s->indexer) s->out.indexer.insert(s->out.indexer.end(), layer.begin(), layer.end());
  }
  s->routing.clear();
  s->indexer.clear();
  retire(s);
  Job* job = s->job;
  job->finish_one();
  if (job->wait_for(std::chrono::milliseconds(0))) live_.erase(job);
}

void EngineImpl::retire(Sequence* s) {
  const int64_t row = s->row, last = static_cast<int64_t>(running_.size()) - 1;
  if (row < 0) return;
  if (row != last) {  // the last row moves into the hole: running rows stay 0..n-1
    cache_->move_row(last, row);
    running_[row] = running_[last];
    running_[row]->row = row;
  }
  running_.pop_back();
  running_count_ = static_cast<int64_t>(running_.size());
  cache_->reset_row(last);
  s->row = -1;
}

}  // namespace

std::unique_ptr<Engine> Engine::create(const RolloutServiceConfig& config) {
  return std::make_unique<EngineImpl>(config);
}

}  // namespace dsrl
