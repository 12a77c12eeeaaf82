// The engine's lifecycle, requests, loop and weight swaps (engine_impl.h).
#include "rollout/engine_impl.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "common/log.h"
#include "model/checkpoint.h"

namespace dsrl {
namespace rollout_engine {
namespace {

// The wire name (WeightPiece::dtype) of a parameter dtype.
std::string dtype_name(at::ScalarType t) {
  static const std::pair<at::ScalarType, const char*> names[] = {
      {at::kFloat, "float32"}, {at::kBFloat16, "bfloat16"}, {at::kHalf, "float16"},
      {at::kFloat8_e4m3fn, "float8_e4m3"}, {at::kInt, "int32"}, {at::kLong, "int64"}};
  for (const auto& [type, name] : names)
    if (type == t) return name;
  DSRL_FAIL("no wire dtype for {}", c10::toString(t));
}

}  // namespace

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
  const int64_t row_bytes = KVCache::token_bytes(mc_, options.dtype().toScalarType()) * max_context_;
  if (config.engine.kv_cache_mb > 0)
    rows = std::min<int64_t>(rows, static_cast<int64_t>(config.engine.kv_cache_mb * (1 << 20)) / row_bytes);
  DSRL_CHECK(rows >= 1, "engine.kv_cache_mb {} holds no sequence of max_context {} ({} bytes each)",
             config.engine.kv_cache_mb, max_context_, row_bytes);
  cache_ = std::make_unique<KVCache>(mc_, rows, max_context_, options);
  const std::string& graphs = config.engine.decode_graphs;
  if (graphs == "on" || (graphs == "auto" && device_.is_cuda()))
    fixed_ = std::make_unique<FixedDecoder>(model_, cache_.get(), device_);
  for (auto& [name, tensor] : checkpoint_tensors(model_)) {
    slots_[name] = ParamSlot{tensor.sizes().vec(), dtype_name(tensor.scalar_type()),
                             static_cast<uint64_t>(tensor.numel()) * tensor.element_size()};
    views_[name] = tensor;
  }
  logger("rollout")->info("engine: {} on {}, {} KV-cache rows of {} tokens ({:.1f} MiB), {} decode steps",
                          config.model.checkpoint.empty() ? config.model.config : config.model.checkpoint,
                          device_.str(), rows, max_context_, cache_->bytes() / 1048576.0,
                          !fixed_ ? "eager" : device_.is_cuda() ? "CUDA-graph" : "fixed-shape");
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
  // Below 1e-3 the scaled logits can overflow to infinity (NaN probabilities); 0 is greedy.
  if (!(s.temperature == 0 || (s.temperature >= 1e-3 && std::isfinite(s.temperature))))
    bad(fmt::format("sampling.temperature must be 0 (greedy) or a finite number >= 0.001, got {}", s.temperature));
  if (!(s.top_p >= 0 && s.top_p <= 1)) bad(fmt::format("sampling.top_p must be in [0, 1] (0 or 1: off), got {}", s.top_p));
  if (s.top_k < 0) bad(fmt::format("sampling.top_k must be >= 0, got {}", s.top_k));
  if (s.vocab_limit < 0 || s.vocab_limit > mc_.vocab_size)
    bad(fmt::format("sampling.vocab_limit must be in [0, {}] (0: the whole vocabulary), got {}", mc_.vocab_size,
                    s.vocab_limit));
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
  job->params = SamplingParams{s.temperature, s.top_k, s.top_p, s.vocab_limit};
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
  s.prefills = prefills_;
  s.queued = queued_count_;
  s.kv_capacity_bytes = cache_->bytes();
  s.kv_used_bytes = cached_tokens_ * cache_->bytes_per_token();
  s.tokens_per_second = recent_.per_second();
  std::lock_guard<std::mutex> lock(stats_mutex_);
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
  const int64_t cap = config_.engine.max_prefill_tokens;
  int64_t longest = 0;  // the prefill pads every admitted prompt to the longest
  while (!queue_.empty() && static_cast<int64_t>(running_.size()) < cache_->rows()) {
    auto [job, seq] = queue_.front();
    const int64_t padded_longest = std::max<int64_t>(longest, static_cast<int64_t>(seq->prompt->size()));
    if (cap > 0 && !admitted.empty() && padded_longest * static_cast<int64_t>(admitted.size() + 1) > cap) break;
    queue_.pop_front();
    if (job->cancelled) {
      seq->out.finish = FinishReason::kAborted;
      job->finish_one();
      continue;
    }
    longest = padded_longest;
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

}  // namespace rollout_engine

std::unique_ptr<Engine> Engine::create(const RolloutServiceConfig& config) {
  return std::make_unique<rollout_engine::EngineImpl>(config);
}

}  // namespace dsrl
