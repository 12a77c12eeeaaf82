// One engine step (engine_impl.h): prefill the admitted rows, decode every running row, sample, record the traces,
// retire the finished sequences.
#include <ATen/ATen.h>

#include <algorithm>
#include <tuple>

#include "model/kernel_ops.h"
#include "proto/sampling_mask.h"
#include "rollout/engine_impl.h"

namespace dsrl::rollout_engine {

void EngineImpl::prefill(const std::vector<Sequence*>& fresh) {
  const int64_t m = static_cast<int64_t>(fresh.size()), first = fresh.front()->row;
  ++prefills_;
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
  if (fixed_) {
    std::vector<int64_t> lengths;
    for (const Sequence* s : seqs) lengths.push_back(cache_->length(s->row));
    const ForwardResult& r = fixed_->step(fed, lengths);  // [P >= n, 1, V]
    for (const Sequence* s : seqs) cache_->grow(s->row);  // before take_tokens retires (moves) rows
    record_traces(seqs, r, std::vector<int64_t>(n, 1));
    take_tokens(seqs, r.logits.select(1, 0).narrow(0, 0, n));
    return;
  }
  cache_->set_window(0, n);
  ForwardOptions o = traced_forward(seqs);
  ForwardResult r = model_->forward(at::tensor(fed, at::kLong).view({n, 1}).to(device_), o);  // [n, 1, V]
  record_traces(seqs, r, std::vector<int64_t>(n, 1));
  take_tokens(seqs, r.logits.select(1, 0));
}

void EngineImpl::record_traces(const std::vector<Sequence*>& seqs, const ForwardResult& r,
                               const std::vector<int64_t>& fed) {
  bool routes = false, selections = false;
  for (const Sequence* s : seqs) {
    routes = routes || s->job->request.record_routing;
    selections = selections || s->job->request.record_indexer;
  }
  std::vector<at::Tensor> experts, topk;
  for (const auto& e : routes ? r.expert_ids : std::vector<at::Tensor>{}) experts.push_back(e.cpu());  // [n, S, k]
  for (const auto& t : selections ? r.indexer_topk : std::vector<at::Tensor>{}) {  // [n, S, <= index_topk]
    const int64_t width = std::min<int64_t>(t.size(2), mc_.index_topk);
    at::Tensor padded = at::full({t.size(0), t.size(1), mc_.index_topk}, -1, at::kInt);
    padded.narrow(2, 0, width).copy_(t.narrow(2, 0, width).cpu());
    topk.push_back(padded);
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

namespace {

// One sampling call for rows sharing parameters: the fused kernel on the GPU (kept sets come out as packed bits),
// model/sampling.h elsewhere. with_bits: fill kept_bits.
SampledBits sample_group(const at::Tensor& logits, const SamplingParams& p, const at::Tensor& uniforms,
                         bool with_bits) {
  if (logits.is_cuda() && cuda_kernels_available())
    return sample_fused(logits, uniforms, p.temperature, p.top_k, p.top_p, p.vocab_limit);
  Sampled smp = sample_tokens(logits, p, uniforms);
  return {smp.tokens, smp.logprobs, with_bits ? pack_kept_bits(smp.kept) : at::Tensor()};
}

}  // namespace

void EngineImpl::take_tokens(const std::vector<Sequence*>& seqs, const at::Tensor& logits) {
  // Rows sampled with the same parameters go through one sampling call, whichever job they belong to.
  std::map<std::tuple<double, int64_t, double, int64_t>, std::vector<int64_t>> groups;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SamplingParams& p = seqs[i]->job->params;
    groups[{p.temperature, p.top_k, p.top_p, p.vocab_limit}].push_back(static_cast<int64_t>(i));
  }
  std::vector<Sequence*> done;
  std::vector<FinishReason> why;
  int64_t mask_bytes = 0, mask_tokens = 0;
  for (auto& [key, rows] : groups) {
    std::vector<double> u;
    bool masks = false;
    for (int64_t i : rows) {
      u.push_back(seqs[i]->stream.uniform());
      masks = masks || seqs[i]->job->request.record_mask;
    }
    const bool all = static_cast<int64_t>(rows.size()) == logits.size(0);
    at::Tensor group = all ? logits : logits.index_select(0, at::tensor(rows, at::kLong).to(logits.device()));
    const SampledBits smp = sample_group(group, seqs[rows[0]]->job->params, at::tensor(u, at::kDouble), masks);
    const at::Tensor tokens = smp.tokens.cpu().contiguous(), logprobs = smp.logprobs.to(at::kFloat).cpu().contiguous();
    const int64_t* token_of = tokens.data_ptr<int64_t>();
    const float* logprob_of = logprobs.data_ptr<float>();
    // Kept sets leave the GPU as packed bits: an eighth of the bytes, and the encoder skips empty bytes.
    const at::Tensor kept = masks ? smp.kept_bits.cpu().contiguous() : at::Tensor();
    const int64_t vocab = group.size(1);
    for (size_t j = 0; j < rows.size(); ++j) {
      Sequence* s = seqs[rows[j]];
      const SamplingSpec& spec = s->job->request.sampling;
      const int64_t token = token_of[j];
      s->out.tokens.push_back(token);
      s->out.logprobs.push_back(logprob_of[j]);
      s->pending = token;
      if (s->job->request.record_mask) {
        s->out.mask.push_back(encode_kept_bits(kept.data_ptr<uint8_t>() + j * kept.size(1), vocab));
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
    recent_.add(static_cast<int64_t>(seqs.size()));
    std::lock_guard<std::mutex> lock(stats_mutex_);
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

}  // namespace dsrl::rollout_engine
