#include "model/indexer_loss.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

namespace dsrl {
namespace {

constexpr int64_t kBlockElements = int64_t{1} << 26;  // fp32 scores per block of queries (256 MiB)

// What the target's score products take: CUDA bf16 stays bf16 (tensor cores, fp32 accumulation and output: as
// precise as the attention itself), anything else becomes fp32.
at::Tensor gemm_operand(const at::Tensor& t) {
  return t.is_cuda() && t.scalar_type() == at::kBFloat16 ? t : t.to(at::kFloat);
}

// a [N, m, d] x b [N, d, n] -> [N, m, n] fp32, for operands from gemm_operand.
at::Tensor bmm_fp32(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() == at::kBFloat16 && b.scalar_type() == at::kBFloat16) return at::bmm(a, b, at::kFloat);
  return at::bmm(a.to(at::kFloat), b.to(at::kFloat));
}

}  // namespace

AttentionTarget attention_target(const at::Tensor& q, const at::Tensor& k, double scale, const at::Tensor& causal,
                                 const at::Tensor& attended, const at::Tensor& chosen) {
  c10::NoGradGuard no_grad;
  const int64_t B = q.size(0), H = q.size(1), S = q.size(2), T = k.size(2);
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(S, kBlockElements / std::max<int64_t>(1, B * H * T)));
  const bool dense = attended.is_same(causal);  // dense attention: p_t is the causal softmax itself
  const int64_t dq = q.size(3);
  at::Tensor kt = gemm_operand(k).transpose(2, 3).reshape({B * H, dq, T});  // [B*H, dq, T]
  std::vector<at::Tensor> probs, recall;
  for (int64_t s0 = 0; s0 < S; s0 += block) {
    const int64_t n = std::min(block, S - s0);
    auto rows = [&](const at::Tensor& m) { return m.narrow(1, s0, n).unsqueeze(1); };  // [B, 1, n, T]
    at::Tensor qb = gemm_operand(q.narrow(2, s0, n)).reshape({B * H, n, dq});
    at::Tensor logits = bmm_fp32(qb, kt).view({B, H, n, T}).mul_(scale);                 // [B, H, n, T]
    logits.masked_fill_(rows(causal).logical_not(), -INFINITY);
    at::Tensor lse_causal = at::logsumexp(logits, {-1}, true);                             // [B, H, n, 1]
    if (dense) {
      at::Tensor p = logits.sub_(lse_causal).exp_();                                       // [B, H, n, T]
      recall.push_back(p.mul(rows(chosen)).sum(-1).mean(1));                               // [B, n]
      probs.push_back(p.mean(1));                                                          // [B, n, T]
    } else {  // sparse: p_t over the attended keys; the recall is their share of the causal mass
      logits.masked_fill_(rows(attended).logical_not(), -INFINITY);
      at::Tensor lse_attended = at::logsumexp(logits, {-1}, true);
      recall.push_back((lse_attended - lse_causal).exp().squeeze(-1).mean(1));
      probs.push_back(logits.sub_(lse_attended).exp_().mean(1));
    }
  }
  return {at::cat(probs, 1), at::cat(recall, 1)};
}

AttentionTarget selected_attention_target(const at::Tensor& q, const at::Tensor& kv, double scale,
                                          const at::Tensor& causal, const at::Tensor& topk, const at::Tensor& valid) {
  c10::NoGradGuard no_grad;
  const int64_t B = q.size(0), S = q.size(1), H = q.size(2), W = q.size(3), T = kv.size(1), K = topk.size(-1);
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(S, kBlockElements / std::max<int64_t>(1, B * H * T)));
  at::Tensor keys = gemm_operand(kv).transpose(1, 2);  // [B, W, T]
  std::vector<at::Tensor> probs, recall;
  for (int64_t s0 = 0; s0 < S; s0 += block) {
    const int64_t n = std::min(block, S - s0);
    // One batched GEMM per sequence, [B, n*H, W] x [B, W, T] (a broadcast matmul would copy the keys per query).
    at::Tensor qb = gemm_operand(q.narrow(1, s0, n)).reshape({B, n * H, W});
    at::Tensor all = bmm_fp32(qb, keys).view({B, n, H, T}).mul_(scale);                  // [B, n, H, T]
    all.masked_fill_(causal.narrow(1, s0, n).logical_not().unsqueeze(2), -INFINITY);
    at::Tensor lse_causal = at::logsumexp(all, {-1}, true);                                // [B, n, H, 1]
    at::Tensor ok = valid.narrow(1, s0, n).unsqueeze(2);                                   // [B, n, 1, K]
    at::Tensor picked = topk.narrow(1, s0, n).clamp_min(0).unsqueeze(2).expand({B, n, H, K});
    at::Tensor sel = all.gather(-1, picked).masked_fill_(ok.logical_not(), -INFINITY);    // [B, n, H, K]
    at::Tensor lse_sel = at::logsumexp(sel, {-1}, true);                                   // [B, n, H, 1]
    recall.push_back((lse_sel - lse_causal).exp().squeeze(-1).mean(2));                    // [B, n]
    at::Tensor p = at::where(ok, (sel - lse_sel).exp(), at::zeros_like(sel));              // [B, n, H, K]
    probs.push_back(p.mean(2));                                                            // [B, n, K]
  }
  return {at::cat(probs, 1), at::cat(recall, 1)};
}

at::Tensor indexer_kl(const at::Tensor& target, const at::Tensor& scores, const at::Tensor& attended) {
  at::Tensor log_q = at::log_softmax(scores.masked_fill(attended.logical_not(), -INFINITY), -1);  // [B, S, T]
  log_q = at::where(attended, log_q, at::zeros_like(log_q));  // -inf off the attended keys, where target is 0
  at::Tensor entropy_term = at::xlogy(target, target);        // p log p, 0 where p = 0
  return (entropy_term - target * log_q).sum(-1);             // [B, S]
}

AttentionTarget attention_target_reference(const at::Tensor& q, const at::Tensor& k, double scale,
                                           const at::Tensor& causal, const at::Tensor& attended,
                                           const at::Tensor& chosen) {
  const int64_t B = q.size(0), H = q.size(1), S = q.size(2), T = k.size(2);
  at::Tensor probs = at::zeros({B, S, T}, at::kDouble), recall = at::zeros({B, S}, at::kDouble);
  at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t h = 0; h < H; ++h) {
        at::Tensor w = (kd[b][h].matmul(qd[b][h][s]) * scale).exp();  // [T] unnormalised weights
        const double all = (w * causal[b][s]).sum().item<double>();
        const double used = (w * attended[b][s]).sum().item<double>();
        probs[b][s] += w * attended[b][s] / used / H;
        recall[b][s] += (w * chosen[b][s]).sum().item<double>() / all / H;
      }
  return {probs.to(at::kFloat), recall.to(at::kFloat)};
}

}  // namespace dsrl
