// GPU smoke test (ctest label gpu; -DDSRL_CUDA=ON builds): a CUDA tensor op, our CUDA RMSNorm against its C++
// reference, and a 1-rank NCCL all-reduce whose unique id goes over MPI.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/generate.h"
#include "model/kernel_ops.h"
#include "model/moe.h"
#include "tests/model/model_fixture.h"
#include "trainer/dist.h"
#include "tests/trainer/mpi_once.h"
#include "trainer/preflight.h"

namespace dsrl {
namespace {

using testing::mpi;

TEST(GpuSmoke, Bf16MatmulOnGpuMatchesCpu) {
  ASSERT_TRUE(cuda_kernels_available());
  at::manual_seed(0);
  at::Tensor a = at::randn({256, 512}), b = at::randn({512, 128});
  at::Tensor gpu = at::matmul(a.to(at::kCUDA, at::kBFloat16), b.to(at::kCUDA, at::kBFloat16)).to(at::kCPU, at::kFloat);
  at::Tensor cpu = at::matmul(a, b);
  const double rel = ((gpu - cpu).norm() / cpu.norm()).item<double>();
  EXPECT_LT(rel, 1e-2) << "bf16 relative error";
}

TEST(GpuSmoke, RmsNormCudaMatchesReference) {
  for (auto shape : std::vector<std::vector<int64_t>>{{1, 7}, {3, 256}, {17, 1000}, {4, 2, 7168}}) {
    at::Tensor x = at::randn(shape), w = at::rand({shape.back()}) + 0.5;
    at::Tensor ref = rms_norm(x, w, 1e-6);                                   // C++ reference on CPU
    at::Tensor got = rms_norm(x.cuda(), w.cuda(), 1e-6).cpu();               // our CUDA kernel
    EXPECT_TRUE(at::allclose(got, ref, 1e-5, 1e-5)) << "shape [" << shape[0] << ", ..., " << shape.back() << "] max diff "
                                                    << (got - ref).abs().max().item<float>();
  }
}

TEST(GpuSmoke, OneRankNcclAllReduce) {
  auto comm = make_nccl_communicator(mpi());
  EXPECT_EQ(comm->backend(), "nccl");
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    at::Tensor t = at::arange(1000, at::TensorOptions().dtype(dtype).device(at::kCUDA));
    at::Tensor before = t.clone();
    comm->all_reduce_sum(t);
    comm->barrier();
    EXPECT_TRUE(at::equal(t, before));
  }
  AllReduceCheck check = check_all_reduce(*comm, "cuda", 64, 3);
  EXPECT_TRUE(check.sum_correct);
}

}  // namespace
}  // namespace dsrl

namespace dsrl {
namespace {

// The model on the GPU: fp32 matches the CPU, bf16 (with the fp32 router and indexer weights) stays close, and
// cached decoding works on CUDA tensors.
TEST(GpuModel, MatchesCpuAndDecodes) {
  ModelConfig c = testing::tiny_config();
  DeepseekV32 model = testing::tiny_model(c, 31);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 40}, at::kLong);
  at::Tensor cpu = model->forward(tokens).logits;
  cast_model(model, at::kCUDA, at::kFloat);
  at::Tensor gpu32 = model->forward(tokens.cuda()).logits.cpu();
  EXPECT_LE((gpu32 - cpu).abs().max().item<double>(), 2e-3);
  // bf16: replay fp32's routes and indexer selection so that only rounding differs, not discrete choices.
  ForwardOptions record;
  record.record = true;
  ForwardResult reference = model->forward(tokens.cuda(), record);
  ForwardOptions replay;
  replay.replay_experts = &reference.expert_ids;
  replay.replay_topk = &reference.indexer_topk;
  cast_model(model, at::kCUDA, at::kBFloat16);
  EXPECT_EQ(model->named_parameters()["model.layers.1.mlp.gate.weight"].scalar_type(), at::kFloat);
  at::Tensor gpu16 = model->forward(tokens.cuda(), replay).logits.to(at::kFloat).cpu();
  EXPECT_LT(((gpu16 - cpu).norm() / cpu.norm()).item<double>(), 3e-2);
  GenerateOptions o;
  o.max_new_tokens = 20;
  auto out = generate(model, {{1, 2, 3}, {4, 5, 6, 7, 8}}, o);
  EXPECT_EQ(out[0].tokens.size(), 20u);
  EXPECT_EQ(out[1].tokens.size(), 20u);
}

}  // namespace
}  // namespace dsrl

namespace dsrl {
namespace {

// bf16 on CUDA: routed experts through at::_grouped_mm give the outputs and gradients of the per-expert loop.
TEST(GpuModel, GroupedGemmExpertsMatchTheLoop) {
  const ModelConfig c = testing::tiny_config();
  Experts experts(c.n_routed_experts, c.hidden_size, c.moe_intermediate_size);
  {
    at::NoGradGuard no_grad;
    for (auto& p : experts->parameters()) p.normal_(0, 0.1);
  }
  experts->to(at::kCUDA, at::kBFloat16);
  const int64_t N = 50, k = c.num_experts_per_tok;
  Routing r;
  std::vector<at::Tensor> rows;
  for (int64_t i = 0; i < N; ++i) rows.push_back(at::randperm(c.n_routed_experts, at::kLong).narrow(0, 0, k));
  r.ids = at::stack(rows).cuda();
  r.weights = at::rand({N, k}).cuda();
  at::Tensor x = at::randn({N, c.hidden_size}).to(at::kCUDA, at::kBFloat16);
  auto run = [&](bool grouped) {
    experts->allow_grouped_gemm = grouped;
    for (auto& p : experts->parameters()) p.mutable_grad() = at::Tensor();
    at::Tensor y = experts->forward(x, r);
    y.to(at::kFloat).pow(2).sum().backward();
    return std::make_pair(y.to(at::kFloat).cpu(), experts->gate_proj.grad().to(at::kFloat).cpu());
  };
  auto [y_grouped, g_grouped] = run(true);
  auto [y_loop, g_loop] = run(false);
  EXPECT_LT(((y_grouped - y_loop).norm() / y_loop.norm()).item<double>(), 1e-2);
  EXPECT_LT(((g_grouped - g_loop).norm() / g_loop.norm()).item<double>(), 2e-2);
}

}  // namespace
}  // namespace dsrl
