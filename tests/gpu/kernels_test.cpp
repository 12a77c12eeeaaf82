// GPU kernels against their C++ references and the eager ATen formulation (ctest label gpu; -DDSRL_CUDA=ON).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/kernel_ops.h"
#include "tests/model/sparse_mla_eager.h"

namespace dsrl {
namespace {

struct MlaCase {
  int64_t s_q, heads, d_qk, d_v, n_kv, topk;
  std::string name() const {
    return "s_q " + std::to_string(s_q) + ", heads " + std::to_string(heads) + ", d " + std::to_string(d_qk) + "/" +
           std::to_string(d_v) + ", n_kv " + std::to_string(n_kv) + ", topk " + std::to_string(topk);
  }
};

// bf16 inputs on the GPU; the references see the same bf16 values in fp32. Indices cover -1, past-the-end rows,
// repeats, a query with nothing selected and a topk that is not a multiple of the kernel's 64-key block.
TEST(GpuSparseMla, MatchesReferenceAndEagerAcrossShapes) {
  ASSERT_TRUE(cuda_kernels_available());
  at::manual_seed(0);
  const std::vector<MlaCase> cases = {
      {3, 16, 288, 256, 50, 1},    {4, 16, 288, 256, 300, 100}, {2, 32, 576, 512, 130, 64},
      {3, 48, 576, 512, 500, 200}, {2, 64, 576, 512, 2000, 257}, {2, 128, 576, 512, 9000, 2048},
  };
  for (const MlaCase& c : cases) {
    at::Tensor q = at::randn({c.s_q, c.heads, c.d_qk}).to(at::kBFloat16);
    at::Tensor kv = at::randn({c.n_kv, c.d_qk}).to(at::kBFloat16);
    at::Tensor idx = at::randint(-1, c.n_kv + 1, {c.s_q, c.topk}, at::kInt);
    idx[0].fill_(-1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d_qk));
    auto [out, lse] = sparse_mla_forward(q.cuda(), kv.cuda(), idx.cuda(), c.d_v, scale);
    ASSERT_EQ(out.scalar_type(), at::kBFloat16) << c.name();
    at::Tensor got = out.cpu().to(at::kFloat), got_lse = lse.cpu();
    auto [want, want_lse] = testing::sparse_mla_eager(q.cuda(), kv.cuda(), idx.cuda(), c.d_v, scale);
    const double out_err = (got - want.cpu()).abs().max().item<double>();
    EXPECT_LT(out_err, 2e-2) << c.name();
    at::Tensor finite = at::isfinite(want_lse.cpu());
    EXPECT_TRUE(at::equal(finite, at::isfinite(got_lse))) << c.name();
    EXPECT_TRUE(at::allclose(got_lse.masked_fill(~finite, 0), want_lse.cpu().masked_fill(~finite, 0), 1e-3, 1e-3))
        << c.name();
    EXPECT_EQ(got[0].abs().max().item<float>(), 0.0f) << c.name() << ": nothing selected must give zeros";
    if (c.s_q * c.heads * c.topk * c.d_qk <= 40'000'000) {  // the C++ reference on the CPU, where it is quick
      auto [ref, ref_lse] = sparse_mla_forward(q, kv, idx, c.d_v, scale);
      EXPECT_LT((got - ref.to(at::kFloat)).abs().max().item<double>(), 2e-2) << c.name() << " vs reference";
    }
  }
}

TEST(GpuSparseMla, RefusesUnsupportedShapesClearly) {
  at::Tensor q = at::randn({2, 8, 576}, at::kCUDA).to(at::kBFloat16), kv = at::randn({10, 576}, at::kCUDA).to(at::kBFloat16);
  at::Tensor idx = at::zeros({2, 4}, at::TensorOptions().dtype(at::kInt).device(at::kCUDA));
  EXPECT_FALSE(sparse_mla_kernel_applies(q, 512));
  try {
    sparse_mla_forward(q, kv, idx, 512, 1.0);
    ADD_FAILURE() << "8 heads accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("8 heads"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsrl
