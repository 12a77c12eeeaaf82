#include "trainer/grpo_loss.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "common/error.h"

namespace dsrl {

at::Tensor token_logprobs(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& kept,
                         double temperature, at::Tensor* entropy) {
  at::Tensor scaled = logits.to(at::kFloat) / temperature;
  if (kept.defined()) scaled = scaled.masked_fill(kept.logical_not(), -INFINITY);
  at::Tensor logp = at::log_softmax(scaled, -1);  // [..., V]
  if (entropy) {
    at::NoGradGuard no_grad;
    at::Tensor p = logp.detach().exp();
    *entropy = -(p * logp.detach().masked_fill(p == 0, 0)).sum(-1);
  }
  return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
}

at::Tensor off_policy_mask(const at::Tensor& logp, const at::Tensor& old, const at::Tensor& mask,
                           const at::Tensor& advantages, double delta) {
  at::NoGradGuard no_grad;
  at::Tensor tokens = mask.sum(-1).clamp_min(1);
  at::Tensor divergence = ((old - logp.detach()) * mask).sum(-1) / tokens;  // mean_t log(pi_old / pi_theta)
  return at::logical_not((advantages < 0) & (divergence > delta)).to(at::kFloat);
}

GrpoTerms grpo_terms(const at::Tensor& logp, const at::Tensor& old, const at::Tensor& ref, const at::Tensor& mask,
                     const at::Tensor& advantages, const at::Tensor& beta, const GrpoLossOptions& o) {
  DSRL_CHECK(logp.sizes() == old.sizes() && logp.sizes() == mask.sizes() && logp.dim() == 2,
             "grpo_terms: logp, old and mask must be [B, S] alike");
  GrpoTerms t;
  at::Tensor A = advantages.to(at::kFloat).unsqueeze(1);  // [B, 1]
  at::Tensor ratio = (logp - old).exp();                  // [B, S]
  at::Tensor clipped_ratio = ratio.clamp(1 - o.eps_low, 1 + o.eps_high);
  at::Tensor surrogate = at::minimum(ratio * A, clipped_ratio * A);
  at::Tensor keep = o.off_policy_mask ? off_policy_mask(logp, old, mask, advantages, o.delta)
                                      : at::ones({logp.size(0)}, logp.options());
  at::Tensor per_token = surrogate * keep.unsqueeze(1);
  at::Tensor tokens = mask.sum(-1).clamp_min(1);  // |o_i|
  at::Tensor kl = at::zeros_like(logp);
  if (ref.defined()) {
    at::Tensor log_ref_over_pi = ref - logp;  // log(pi_ref / pi_theta)
    kl = log_ref_over_pi.exp() - log_ref_over_pi - 1;
    if (o.unbiased_kl) kl = ratio * kl;
    per_token = per_token - beta.to(at::kFloat).unsqueeze(1) * kl;
  }
  t.objective = (per_token * mask).sum(-1) / tokens;
  at::NoGradGuard no_grad;
  t.kl = (kl.detach() * mask).sum(-1) / tokens;
  at::Tensor r = ratio.detach();
  t.ratio_sum = (r * mask).sum();
  t.ratio_max = r.masked_fill(mask == 0, 0).max();
  const at::Tensor high = (r > 1 + o.eps_high) & (A > 0), low = (r < 1 - o.eps_low) & (A < 0);
  t.clipped = ((high | low).to(at::kFloat) * mask).sum();
  t.masked = 1 - keep;
  return t;
}

}  // namespace dsrl
