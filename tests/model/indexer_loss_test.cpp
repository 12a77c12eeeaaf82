// The indexer's training signal: the attention target against a plain reference, KL and recall bounds, and the
// gradient separation of sparse training (LM loss -> main model only, KL -> indexer only).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/attention.h"
#include "model/indexer_loss.h"
#include "model/kernel_ops.h"
#include "model/layers.h"
#include "tests/model/model_fixture.h"

namespace dsrl {
namespace {

using testing::tiny_config;
using testing::tiny_model;

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(IndexerLoss, AttentionTargetMatchesTheReference) {
  at::manual_seed(3);
  const int64_t B = 2, H = 3, S = 9, T = 9, d = 8, k = 4;
  at::Tensor q = at::randn({B, H, S, d}), keys = at::randn({B, H, T, d});
  at::Tensor positions = at::arange(S).unsqueeze(0).expand({B, S});
  at::Tensor causal = causal_mask(positions, T);
  at::Tensor scores = at::randn({B, S, T}).masked_fill(causal.logical_not(), -INFINITY);
  auto [values, idx] = scores.topk(k, -1);
  at::Tensor chosen = causal & selection_mask(at::where(at::isinf(values), at::full_like(idx, -1), idx), T);
  for (bool sparse : {false, true}) {
    at::Tensor attended = sparse ? chosen : causal;
    AttentionTarget got = attention_target(q, keys, 0.35, causal, attended, chosen);
    AttentionTarget want = attention_target_reference(q, keys, 0.35, causal, attended, chosen);
    EXPECT_LE(max_diff(got.probs, want.probs), 1e-5) << (sparse ? "sparse" : "dense");
    EXPECT_LE(max_diff(got.recall, want.recall), 1e-5) << (sparse ? "sparse" : "dense");
    EXPECT_LE(max_diff(got.probs.sum(-1), at::ones({B, S})), 1e-5) << "p_t is L1-normalised";
    EXPECT_EQ(got.probs.masked_select(attended.logical_not()).abs().sum().item<double>(), 0) << "p_t off the keys";
  }
  // The first k queries have at most k causal keys: all of their mass is inside the top-k.
  AttentionTarget dense = attention_target(q, keys, 0.35, causal, causal, chosen);
  EXPECT_LE(max_diff(dense.recall.narrow(1, 0, k), at::ones({B, k})), 1e-6);
  EXPECT_LT(dense.recall.narrow(1, k, S - k).min().item<double>(), 0.999);
}

// Entries of a [B, S, T] tensor at the selected keys, zero where an entry is not valid -> [B, S, k]
at::Tensor at_selected(const at::Tensor& full, const at::Tensor& topk, const at::Tensor& valid) {
  at::Tensor picked = full.gather(-1, topk.clamp_min(0));
  return at::where(valid, picked, at::zeros_like(picked));
}

TEST(IndexerLoss, SelectedTargetEqualsTheFullTargetAtTheSelectedKeys) {
  at::manual_seed(5);
  const int64_t B = 2, H = 3, S = 11, T = 11, W = 8, k = 4;
  at::Tensor q = at::randn({B, S, H, W}), kv = at::randn({B, T, W});
  at::Tensor positions = at::arange(S).unsqueeze(0).expand({B, S});
  at::Tensor causal = causal_mask(positions, T);
  auto [values, idx] = at::randn({B, S, T}).masked_fill(causal.logical_not(), -INFINITY).topk(k, -1);
  at::Tensor topk = at::where(at::isinf(values), at::full_like(idx, -1), idx);
  topk[1][3][0] = 9;  // a replayed key after its query (position 3): not valid, as if not selected
  at::Tensor valid = selected_valid(topk, positions);
  EXPECT_FALSE(valid[1][3][0].item<bool>());
  at::Tensor chosen = causal & selection_mask(topk, T);
  AttentionTarget full = attention_target(q.transpose(1, 2), kv.unsqueeze(1).expand({B, H, T, W}), 0.35, causal,
                                          chosen, chosen);
  AttentionTarget got = selected_attention_target(q, kv, 0.35, causal, topk, valid);
  ASSERT_EQ(got.probs.sizes(), topk.sizes());
  EXPECT_LE(max_diff(got.probs, at_selected(full.probs, topk, valid)), 1e-5);
  EXPECT_LE(max_diff(got.recall, full.recall), 1e-5);
  EXPECT_LE(max_diff(got.probs.sum(-1), at::ones({B, S})), 1e-5) << "p_t is L1-normalised over the selection";
  EXPECT_LT(got.recall.narrow(1, k + 1, S - k - 1).max().item<double>(), 0.999) << "later queries lose mass";
}

// The fused target's op (kernels/attention_target.h; the C++ reference on the CPU) against the ATen formulation,
// with a repeated key, a future key, -1 entries and a query with no causal key at all.
TEST(IndexerLoss, SelectedTargetOpMatchesTheAtenTarget) {
  at::manual_seed(8);
  const int64_t B = 2, H = 3, S = 11, T = 13, W = 8, k = 5;
  at::Tensor q = at::randn({B, S, H, W}), kv = at::randn({B, T, W});
  at::Tensor positions = (at::arange(S) + 2).unsqueeze(0).repeat({B, 1});
  positions[1][0] = -1;  // no causal key: everything -inf and 0
  at::Tensor topk = at::randint(-1, T, {B, S, k});
  topk[0][4][1] = topk[0][4][0] = 3;  // a repeat counts twice, in both
  topk[0][5][2] = 12;                 // after its query: selects nothing
  at::Tensor causal = causal_mask(positions, T), valid = selected_valid(topk, positions);
  SelectedTarget got = selected_target_forward(q, kv, positions + 1, topk, 0.35);
  AttentionTarget want = selected_attention_target(q, kv, 0.35, causal, topk, valid);
  at::Tensor scores = at::einsum("bshw,btw->bsht", {q, kv}) * 0.35;  // [B, S, H, T]
  at::Tensor lse_causal = at::logsumexp(scores.masked_fill(causal.logical_not().unsqueeze(2), -INFINITY), {-1});
  at::Tensor real = at::ones({B, S}, at::kBool);
  real[1][0] = false;
  EXPECT_LE(max_diff(got.probs, want.probs), 1e-5);
  EXPECT_LE(max_diff(got.recall.masked_select(real), want.recall.masked_select(real)), 1e-5);
  EXPECT_LE(max_diff(got.lse_causal.masked_select(real.unsqueeze(-1)),
                     lse_causal.masked_select(real.unsqueeze(-1))), 1e-5);
  EXPECT_EQ(got.recall[1][0].item<float>(), 0.f);
  EXPECT_EQ(got.probs[1][0].abs().sum().item<float>(), 0.f);
  EXPECT_TRUE(at::isinf(got.lse_causal[1][0]).all().item<bool>());
  EXPECT_TRUE(at::isinf(got.lse_selected[1][0]).all().item<bool>());
  EXPECT_GT(got.probs[0][4][0].item<float>(), 0.f);
  EXPECT_EQ(got.probs[0][4][0].item<float>(), got.probs[0][4][1].item<float>()) << "each copy of the repeat";
  EXPECT_EQ(got.probs[0][5][2].item<float>(), 0.f);
  EXPECT_THROW(selected_target_forward(q, kv.narrow(2, 0, 4), positions + 1, topk, 0.35), std::exception);
  EXPECT_THROW(selected_target_forward(q, kv, positions.narrow(1, 0, 4), topk, 0.35), std::exception);
  EXPECT_THROW(selected_target_forward(q, kv, positions + 1, topk.to(at::kFloat), 0.35), std::exception);
}

TEST(IndexerLoss, SelectedScoresGiveTheFullScoresKlAndGradients) {
  ModelConfig c = tiny_config();
  for (bool fp8 : {false, true}) {
    c.indexer_fp8 = fp8;
    at::manual_seed(6);
    Indexer indexer(c);
    const int64_t B = 2, S = 24, T = 24;
    at::Tensor x = at::randn({B, S, c.hidden_size}), q_lat = at::randn({B, S, c.q_lora_rank});
    AttentionContext ctx;
    ctx.positions = at::arange(S).unsqueeze(0).expand({B, S});
    std::tie(ctx.cos, ctx.sin) = rope_cos_sin(make_rope(c), ctx.positions);
    at::Tensor keys = indexer->keys(x, ctx);
    at::Tensor full = indexer->scores(x, q_lat, keys, ctx);                      // [B, S, T]
    at::Tensor topk = indexer->select(full.detach());                           // [B, S, 16]
    at::Tensor valid = selected_valid(topk, ctx.positions);
    at::Tensor picked = indexer->selected_scores(x, q_lat, keys, topk, ctx);     // [B, S, 16]
    EXPECT_LE(max_diff(picked.masked_select(valid), full.gather(-1, topk.clamp_min(0)).masked_select(valid)), 1e-5);
    EXPECT_TRUE(at::isinf(picked.masked_select(valid.logical_not())).all().item<bool>());
    // The same KL, and the same gradient on every indexer weight.
    at::Tensor chosen = causal_mask(ctx.positions, T) & selection_mask(topk, T);
    at::Tensor target = at::softmax(at::randn({B, S, T}).masked_fill(chosen.logical_not(), -INFINITY), -1);
    at::Tensor kl_full = indexer_kl(target, full, chosen);
    at::Tensor kl_picked = indexer_kl(at_selected(target, topk, valid), picked, valid);
    EXPECT_LE(max_diff(kl_full, kl_picked), 1e-5) << (fp8 ? "fp8" : "bf16");
    std::vector<at::Tensor> grads_full, grads_picked;
    for (auto* grads : {&grads_full, &grads_picked}) {
      indexer->zero_grad();
      (grads == &grads_full ? kl_full : kl_picked).sum().backward({}, /*retain_graph=*/true);
      for (auto& p : indexer->parameters()) grads->push_back(p.grad().clone());
    }
    for (size_t i = 0; i < grads_full.size(); ++i) {
      EXPECT_GT(grads_full[i].abs().max().item<double>(), 0) << "parameter " << i << (fp8 ? " fp8" : "");
      EXPECT_LE(max_diff(grads_full[i], grads_picked[i]), 1e-4 * (1 + grads_full[i].abs().max().item<double>()))
          << "parameter " << i << (fp8 ? " fp8" : "");
    }
  }
}

TEST(IndexerLoss, KlIsZeroOnlyWhenTheIndexerMatchesTheTarget) {
  at::manual_seed(4);
  at::Tensor attended = at::rand({2, 5, 7}) < 0.6;
  attended.select(-1, 0).fill_(true);
  at::Tensor target = at::softmax(at::randn({2, 5, 7}).masked_fill(attended.logical_not(), -INFINITY), -1);
  at::Tensor same = target.log().masked_fill(attended.logical_not(), -INFINITY) + 3.0;  // same distribution
  EXPECT_LE(indexer_kl(target, same, attended).abs().max().item<double>(), 1e-6);
  at::Tensor other = at::randn({2, 5, 7}).requires_grad_();
  at::Tensor kl = indexer_kl(target, other, attended);
  EXPECT_GT(kl.min().item<double>(), 0);
  kl.sum().backward();
  EXPECT_TRUE(at::isfinite(other.grad()).all().item<bool>());
  EXPECT_EQ(other.grad().masked_select(attended.logical_not()).abs().sum().item<double>(), 0)
      << "keys outside the attended set get no gradient";
}

// Which parameters a loss reaches: names with a non-zero gradient.
std::vector<std::string> reached(DeepseekV32& model, const at::Tensor& loss) {
  model->zero_grad();
  loss.backward({}, /*retain_graph=*/true);
  std::vector<std::string> names;
  for (auto& p : model->named_parameters())
    if (p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) names.push_back(p.key());
  return names;
}

bool is_indexer(const std::string& name) { return name.find(".indexer.") != std::string::npos; }

TEST(IndexerLoss, SparseTrainingSeparatesTheGradients) {
  ModelConfig c = tiny_config();  // index_topk 16 < 40 tokens: really sparse
  DeepseekV32 model = tiny_model(c, 11);
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 40}, at::kLong);
  ForwardOptions o;
  o.indexer_loss = true;
  ForwardResult out = model->forward(tokens, o);
  ASSERT_EQ(out.indexer.kl.size(), static_cast<size_t>(c.num_hidden_layers));
  at::Tensor lm = at::cross_entropy_loss(out.logits.reshape({-1, c.vocab_size}).narrow(0, 0, 79),
                                         tokens.flatten().narrow(0, 1, 79));
  at::Tensor kl = at::stack(out.indexer.kl).mean();
  std::vector<std::string> from_lm = reached(model, lm), from_kl = reached(model, kl);
  ASSERT_FALSE(from_lm.empty());
  ASSERT_FALSE(from_kl.empty());
  for (const auto& n : from_lm) EXPECT_FALSE(is_indexer(n)) << "LM loss reached " << n;
  for (const auto& n : from_kl) EXPECT_TRUE(is_indexer(n)) << "KL reached " << n;
  // Every indexer weight learns from the KL (wq_b, wk, k_norm, weights_proj of every layer).
  int64_t indexer_params = 0;
  for (auto& p : model->named_parameters()) indexer_params += is_indexer(p.key());
  EXPECT_EQ(static_cast<int64_t>(from_kl.size()), indexer_params);
  for (const auto& r : out.indexer.recall) {
    EXPECT_GE(r.min().item<double>(), 0);
    EXPECT_LE(r.max().item<double>(), 1 + 1e-6);
  }
}

TEST(IndexerLoss, TermsDoNotChangeTheForward) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 12);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::randint(0, c.vocab_size, {1, 40}, at::kLong);
  for (bool sparse : {true, false}) {
    ForwardOptions plain, with_terms;
    plain.sparse = with_terms.sparse = sparse;
    with_terms.indexer_loss = true;
    EXPECT_TRUE(at::equal(model->forward(tokens, plain).logits, model->forward(tokens, with_terms).logits));
  }
}

}  // namespace
}  // namespace dsrl
