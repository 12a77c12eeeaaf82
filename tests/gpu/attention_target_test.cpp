// The indexer KL's target over the selected keys on the GPU (kernels/attention_target.h) against the C++ reference
// (double sums of the same bf16 values) and the ATen formulation that runs without the kernels.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/attention.h"
#include "model/indexer_loss.h"
#include "model/kernel_ops.h"

namespace dsrl {
namespace {

struct TargetCase {
  int64_t batch, s_q, heads, dim, n_kv, topk;
  double sharpness;  // multiplies q: larger makes the attention peakier
  std::string name() const {
    return "batch " + std::to_string(batch) + ", s_q " + std::to_string(s_q) + ", heads " + std::to_string(heads) +
           ", dim " + std::to_string(dim) + ", n_kv " + std::to_string(n_kv) + ", topk " + std::to_string(topk);
  }
};

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.cpu().to(at::kDouble) - b.cpu().to(at::kDouble)).abs().max().item<double>();
}

// Queries at the end of their sequence's keys (positions n_kv - s_q + s, as in training or a prefill chunk), the
// first query of the last sequence with no causal key at all. Selections hold -1, keys after their query, repeats
// and slots past a block of 64. 48 heads run as three 16-head groups and 128 as two 64-head groups, whose probs and
// recall add up with atomics. Where a CTA's scores fit in 48 KB of shared memory the kernel keeps them (16-head
// CTAs up to top-256 here, and the last two cases, whose 32 and 64 heads split over two warps a key group);
// elsewhere it walks the rows twice (at W 576 with 32 or 64 heads, and the two cases with top-1000 and more).
TEST(GpuSelectedTarget, MatchesReferenceAndAtenAcrossShapes) {
  ASSERT_TRUE(cuda_kernels_available());
  at::manual_seed(11);
  const std::vector<TargetCase> cases = {
      {1, 5, 16, 288, 50, 1, 1.0},      {2, 37, 16, 288, 300, 100, 3.0}, {2, 20, 32, 576, 130, 64, 1.0},
      {1, 9, 48, 576, 500, 200, 2.0},   {2, 16, 64, 576, 2000, 257, 1.0}, {1, 4, 128, 576, 3000, 2048, 1.0},
      {2, 300, 16, 288, 300, 256, 1.0}, {2, 12, 32, 288, 5000, 1500, 1.0}, {1, 6, 16, 288, 4000, 1000, 2.0},
      {1, 10, 32, 288, 400, 300, 1.0},  {2, 8, 64, 288, 300, 120, 2.0},
  };
  for (const TargetCase& c : cases) {
    at::Tensor q = (at::randn({c.batch, c.s_q, c.heads, c.dim}) * c.sharpness).to(at::kBFloat16);
    at::Tensor kv = at::randn({c.batch, c.n_kv, c.dim}).to(at::kBFloat16);
    at::Tensor positions = (at::arange(c.s_q) + (c.n_kv - c.s_q)).unsqueeze(0).repeat({c.batch, 1});
    positions[c.batch - 1][0] = -1;
    at::Tensor topk = at::randint(-1, c.n_kv, {c.batch, c.s_q, c.topk});
    topk.select(2, 0).copy_(positions.clamp_min(0));  // the query's own key: every query but one selects something
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.dim));
    SelectedTarget got = selected_target_forward(q.cuda(), kv.cuda(), positions.cuda() + 1, topk.cuda(), scale);
    ASSERT_EQ(got.probs.sizes(), topk.sizes()) << c.name();
    at::Tensor real = at::ones({c.batch, c.s_q}, at::kBool);
    real[c.batch - 1][0] = false;

    AttentionTarget aten = selected_attention_target(q.cuda(), kv.cuda(), scale, causal_mask(positions, c.n_kv).cuda(),
                                                     topk.cuda(), selected_valid(topk, positions).cuda());
    EXPECT_LE(max_diff(got.probs, aten.probs), 2e-4) << c.name();
    EXPECT_LE(max_diff(got.recall.cpu().masked_select(real), aten.recall.cpu().masked_select(real)), 2e-4) << c.name();
    EXPECT_EQ(got.recall[c.batch - 1][0].item<float>(), 0.f) << c.name();
    EXPECT_LE(max_diff(got.probs.sum(-1).cpu().masked_select(real), at::ones({real.sum().item<int64_t>()})), 1e-4)
        << c.name() << ": the target is L1-normalised over the selection";

    if (c.batch * c.s_q * c.heads * c.n_kv * c.dim > 1'500'000'000) continue;  // the double reference takes long
    SelectedTarget want = selected_target_forward(q, kv, positions + 1, topk, scale);
    EXPECT_LE(max_diff(got.probs, want.probs), 1e-4) << c.name();
    at::Tensor picked = want.probs > 1e-6;
    EXPECT_LE(max_diff((got.probs.cpu() / want.probs).masked_select(picked), at::ones({picked.sum().item<int64_t>()})),
              1e-3) << c.name() << ": relative error of the probabilities";
    EXPECT_LE(max_diff(got.recall, want.recall), 1e-4) << c.name();
    at::Tensor lse_real = real.unsqueeze(-1).expand({c.batch, c.s_q, c.heads});
    for (auto [g, w] : {std::pair{got.lse_causal, want.lse_causal}, std::pair{got.lse_selected, want.lse_selected}}) {
      EXPECT_LE(max_diff(g.cpu().masked_select(lse_real), w.masked_select(lse_real)), 1e-3) << c.name();
      EXPECT_TRUE(at::isinf(g[c.batch - 1][0]).all().item<bool>()) << c.name() << ": no key gives -inf";
    }
  }
}

TEST(GpuSelectedTarget, RefusesUnsupportedShapesClearly) {
  ASSERT_TRUE(cuda_kernels_available());
  at::Tensor q = at::randn({1, 4, 8, 288}, at::kCUDA).to(at::kBFloat16), kv = at::randn({1, 10, 288}, at::kCUDA);
  at::Tensor ends = at::full({1, 4}, 10, at::kCUDA).to(at::kInt), topk = at::zeros({1, 4, 3}, at::kCUDA).to(at::kInt);
  EXPECT_FALSE(selected_target_kernel_applies(q, kv.to(at::kBFloat16))) << "8 heads";
  EXPECT_FALSE(selected_target_kernel_applies(q.repeat({1, 1, 2, 1}), kv)) << "fp32 kv";
  try {
    selected_target_forward(q, kv.to(at::kBFloat16), ends, topk, 0.1);
    FAIL() << "8 heads accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("heads a multiple of 16"), std::string::npos) << e.what();
  }
  EXPECT_THROW(selected_target_forward(q.repeat({1, 1, 2, 1}), kv, ends, topk, 0.1), std::exception) << "fp32 kv";
}

}  // namespace
}  // namespace dsrl
