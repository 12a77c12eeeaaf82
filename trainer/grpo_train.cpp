#include "trainer/grpo_train.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "common/error.h"
#include "model/sampling.h"
#include "trainer/dist.h"
#include "trainer/grpo_batch.h"
#include "trainer/optim_step.h"

namespace dsrl {

// Summed over micro-batches (then ranks): the stats' numerators and denominators.
struct GrpoLearner::Sums {
  double objective = 0, kl = 0, sequences = 0, masked = 0;
  double ratio = 0, clipped = 0, entropy = 0, mismatch = 0, outside = 0, tokens = 0;
  double ratio_max = 0;
};

GrpoLearner::GrpoLearner(const TrainConfig& config, DeepseekV32 policy, DeepseekV32 reference, AdamW& optimizer,
                         std::vector<ParamGroup>& groups, Communicator& comm, const at::Device& device,
                         int64_t vocab_limit)
    : config_(config), policy_(std::move(policy)), reference_(std::move(reference)), optimizer_(optimizer),
      groups_(groups), comm_(comm), device_(device), vocab_limit_(vocab_limit) {
  const GrpoConfig& g = config.grpo;
  loss_ = GrpoLossOptions{g.eps_low, g.eps_high, g.kl_estimator == "unbiased_k3", g.off_policy_mask,
                          g.off_policy_delta};
}

at::Tensor GrpoLearner::logprobs(DeepseekV32& model, const GrpoMicroBatch& mb, at::Tensor* entropy, Drift* drift) {
  ForwardOptions o;
  o.sparse = sparse_attention(config_);
  if (!mb.routes.empty()) o.replay_experts = &mb.routes;  // keep routing
  const ForwardResult out = model->forward(mb.inputs, o);
  // Ids past the vocab limit were never sampleable: a softmax over the first vocab_limit ids is the rollout's
  // distribution, and a view of them costs no copy of the logits.
  const int64_t V = vocab_limit_ > 0 ? vocab_limit_ : out.logits.size(-1);
  const at::Tensor logits = out.logits.narrow(-1, 0, V);  // [B, S, V]
  if (drift) {
    at::NoGradGuard no_grad;
    const GrpoConfig& g = config_.grpo;
    const at::Tensor kept = kept_tokens(logits.detach(), SamplingParams{g.temperature, g.top_k, g.top_p});
    drift->outside = kept.gather(-1, mb.targets.unsqueeze(-1)).squeeze(-1).logical_not();
    drift->mismatch = out.route_mismatch.empty() ? at::zeros_like(mb.mask)
                                                 : at::stack(out.route_mismatch).to(at::kFloat).mean(0);
  }
  const at::Tensor recorded = mb.kept.defined() ? mb.kept.narrow(-1, 0, V) : mb.kept;
  return token_logprobs(logits, mb.targets, recorded, config_.grpo.temperature, entropy);  // [B, S, V] -> [B, S]
}

// Update u trains the samples with index % updates == u; this rank takes every size()-th of those.
std::vector<const GrpoSample*> GrpoLearner::my_share(const std::vector<GrpoSample>& samples, int64_t update) const {
  std::vector<const GrpoSample*> mine;
  int64_t k = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (static_cast<int64_t>(i) % config_.grpo.updates_per_batch != update) continue;
    if (k++ % comm_.size() == comm_.rank()) mine.push_back(&samples[i]);
  }
  return mine;
}

void GrpoLearner::recompute_old(std::vector<GrpoSample>& samples) {
  // Every rank recomputes the samples it will train, then the ranks agree on all of them: each rank's values go
  // into a zeroed buffer, which an all-reduce sums.
  at::NoGradGuard no_grad;
  const GrpoConfig& g = config_.grpo;
  std::vector<int64_t> offset(samples.size() + 1, 0);
  for (size_t i = 0; i < samples.size(); ++i) offset[i + 1] = offset[i] + static_cast<int64_t>(samples[i].response.size());
  at::Tensor all = at::zeros({offset.back()}, at::kDouble);
  for (int64_t u = 0; u < g.updates_per_batch; ++u) {
    for (const auto& micro : split_by_tokens(my_share(samples, u), g.tokens_per_micro_batch)) {
      GrpoMicroBatch mb = make_micro_batch(micro, policy_->config().vocab_size, g.keep_sampling_mask, g.keep_routing,
                                           device_);
      const at::Tensor logp = logprobs(policy_, mb, nullptr).to(at::kCPU, at::kDouble);
      for (size_t b = 0; b < micro.size(); ++b) {
        const GrpoSample& s = *micro[b];
        const int64_t P = static_cast<int64_t>(s.prompt.size()), n = static_cast<int64_t>(s.response.size());
        const size_t index = static_cast<size_t>(&s - samples.data());
        all.narrow(0, offset[index], n).copy_(logp[b].narrow(0, P - 1, n));
      }
    }
  }
  if (comm_.size() > 1) {
    at::Tensor shared = all.to(device_, comm_.backend() == "nccl" ? at::kFloat : at::kDouble);
    comm_.all_reduce_sum(shared);
    all = shared.to(at::kCPU, at::kDouble);
  }
  const double* v = all.data_ptr<double>();
  for (size_t i = 0; i < samples.size(); ++i)
    for (size_t t = 0; t < samples[i].response.size(); ++t) samples[i].logprobs[t] = static_cast<float>(v[offset[i] + t]);
}

GrpoTrainStats GrpoLearner::update(std::vector<GrpoSample>& samples) {
  const GrpoConfig& g = config_.grpo;
  GrpoTrainStats stats;
  if (samples.empty()) return stats;
  if (g.pi_old == "recompute") recompute_old(samples);
  Sums total;
  for (int64_t u = 0; u < g.updates_per_batch; ++u) {
    int64_t in_update = 0;  // samples of this update over all ranks: the objective's mean
    for (size_t i = 0; i < samples.size(); ++i) in_update += static_cast<int64_t>(i) % g.updates_per_batch == u;
    if (in_update == 0) continue;
    optimizer_.zero_grad();
    Sums sums;
    for (const auto& micro : split_by_tokens(my_share(samples, u), g.tokens_per_micro_batch)) {
      GrpoMicroBatch mb = make_micro_batch(micro, policy_->config().vocab_size, g.keep_sampling_mask, g.keep_routing,
                                           device_);
      at::Tensor entropy;
      Drift drift;
      const at::Tensor logp = logprobs(policy_, mb, &entropy, &drift);  // [B, S] with gradient
      at::Tensor ref;
      if (reference_) {
        at::NoGradGuard no_grad;
        ref = logprobs(reference_, mb, nullptr);
      }
      const GrpoTerms t = grpo_terms(logp, mb.old_logp, ref, mb.mask, mb.advantages, mb.betas, loss_);
      const at::Tensor loss = -t.objective.sum() / static_cast<double>(in_update);
      loss.backward();
      const at::Tensor host = at::stack({t.objective.detach().sum(), t.kl.sum(), t.masked.sum(), t.ratio_sum,
                                         t.clipped, (entropy * mb.mask).sum(), (drift.mismatch * mb.mask).sum(),
                                         (drift.outside.to(at::kFloat) * mb.mask).sum(), t.ratio_max})
                                  .to(at::kCPU, at::kDouble);
      const double* v = host.data_ptr<double>();
      sums.objective += v[0], sums.kl += v[1], sums.masked += v[2], sums.ratio += v[3], sums.clipped += v[4];
      sums.entropy += v[5], sums.mismatch += v[6], sums.outside += v[7], sums.ratio_max = std::max(sums.ratio_max, v[8]);
      sums.sequences += static_cast<double>(micro.size());
      sums.tokens += static_cast<double>(mb.tokens);
    }
    all_reduce_gradients(groups_, comm_);
    stats.grad_norm = clip_gradients(groups_, config_.optim.grad_clip);
    optimizer_.step();
    // The maximum over ranks through a sum: each rank fills its own slot.
    std::vector<double> values = {sums.objective, sums.kl, sums.masked, sums.ratio, sums.clipped, sums.entropy,
                                  sums.mismatch, sums.outside, sums.sequences, sums.tokens};
    const size_t fixed = values.size();
    values.resize(fixed + comm_.size(), 0.0);
    values[fixed + comm_.rank()] = sums.ratio_max;
    const std::vector<double> r = all_reduce_values(values, comm_, device_);
    total.objective += r[0], total.kl += r[1], total.masked += r[2], total.ratio += r[3], total.clipped += r[4];
    total.entropy += r[5], total.mismatch += r[6], total.outside += r[7], total.sequences += r[8], total.tokens += r[9];
    for (int k = 0; k < comm_.size(); ++k) total.ratio_max = std::max(total.ratio_max, r[fixed + k]);
  }
  const double seqs = std::max(1.0, total.sequences), tokens = std::max(1.0, total.tokens);
  stats.objective = total.objective / seqs;
  stats.kl = total.kl / seqs;
  stats.masked_fraction = total.masked / seqs;
  stats.ratio_mean = total.ratio / tokens;
  stats.ratio_max = total.ratio_max;
  stats.clip_fraction = total.clipped / tokens;
  stats.entropy = total.entropy / tokens;
  stats.route_mismatch = total.mismatch / tokens;
  stats.outside_nucleus = total.outside / tokens;
  stats.tokens = static_cast<int64_t>(total.tokens);
  return stats;
}

}  // namespace dsrl
