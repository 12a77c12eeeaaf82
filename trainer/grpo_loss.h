// The GRPO objective of DeepSeek-V3.2 on a padded micro-batch of sequences (docs/grpo.md):
//   J_i = 1/|o_i| sum_t [ min(rho A_i, clip(rho, 1 - eps_low, 1 + eps_high) A_i) M_i - beta_i KL_t ]
//   rho_t = pi_theta / pi_old
//   KL_t  = K3 = pi_ref/pi_theta - log(pi_ref/pi_theta) - 1,  or rho_t K3 (unbiased_k3)
//   M_i   = 0 if A_i < 0 and mean_t log(pi_old/pi_theta) > delta, else 1   (off-policy sequence masking)
// Log-probs come from the logits at the rollout's temperature, restricted to the rollout's kept set when keep
// sampling mask is on.
#pragma once

#include <ATen/core/Tensor.h>

namespace dsrl {

struct GrpoLossOptions {
  double eps_low = 0.2, eps_high = 0.28;
  bool unbiased_kl = true;    // rho x K3
  bool off_policy_mask = true;
  double delta = 0.5;
};

// log pi(target) under logits / temperature with tokens outside `kept` at -inf (kept undefined: every token).
// logits [..., V], targets [...] int64, kept [..., V] bool -> [...] fp32. With `entropy`, also the entropy of
// that distribution per position (no gradient).
at::Tensor token_logprobs(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& kept,
                         double temperature, at::Tensor* entropy = nullptr);

// The sequences' OPSM factor M_i [B] (1 kept, 0 masked), from detached log-probs. logp, old, mask: [B, S].
at::Tensor off_policy_mask(const at::Tensor& logp, const at::Tensor& old, const at::Tensor& mask,
                           const at::Tensor& advantages, double delta);

struct GrpoTerms {
  at::Tensor objective;     // [B] J_i, with gradient through logp
  at::Tensor kl;            // [B] token-mean KL_t (0 without a reference)
  at::Tensor ratio_sum;     // scalar: sum of rho over the valid tokens (no gradient)
  at::Tensor ratio_max;     // scalar
  at::Tensor clipped;       // scalar: tokens where the clipped branch was taken
  at::Tensor masked;        // [B] 1 where OPSM masked the sequence
};

// logp (with gradient), old, ref (undefined: no KL), mask (1 on generated tokens): [B, S]; advantages, beta: [B].
GrpoTerms grpo_terms(const at::Tensor& logp, const at::Tensor& old, const at::Tensor& ref, const at::Tensor& mask,
                     const at::Tensor& advantages, const at::Tensor& beta, const GrpoLossOptions& o);

}  // namespace dsrl
