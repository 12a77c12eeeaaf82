#include "trainer/adamw.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace dsrl {
namespace {

// Two steps of our fused AdamW against the textbook update written out.
TEST(AdamW, MatchesTheReferenceUpdate) {
  at::manual_seed(0);
  at::Tensor p = at::randn({5, 3}).set_requires_grad(true);
  at::Tensor q = at::randn({4}).set_requires_grad(true);  // no gradient: must stay as it is
  at::Tensor ref = p.detach().clone(), q0 = q.detach().clone();
  AdamW opt({ParamGroup{"g", {p, q}, 0.01, 0.1}}, AdamWOptions{0.9, 0.95, 1e-8});
  at::Tensor m = at::zeros_like(ref), v = at::zeros_like(ref);
  for (int t = 1; t <= 2; ++t) {
    at::Tensor grad = at::randn({5, 3});
    p.mutable_grad() = grad.clone();
    opt.step();
    ref = ref * (1 - 0.01 * 0.1);
    m = 0.9 * m + 0.1 * grad;
    v = 0.95 * v + 0.05 * grad * grad;
    at::Tensor m_hat = m / (1 - std::pow(0.9, t)), v_hat = v / (1 - std::pow(0.95, t));
    ref = ref - 0.01 * m_hat / (v_hat.sqrt() + 1e-8);
    EXPECT_TRUE(at::allclose(p.detach(), ref, 1e-5, 1e-6)) << "step " << t;
  }
  EXPECT_TRUE(at::equal(q.detach(), q0));
}

}  // namespace
}  // namespace dsrl
