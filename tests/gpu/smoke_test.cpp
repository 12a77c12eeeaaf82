// GPU smoke test (ctest label gpu; -DDSRL_CUDA=ON builds): a CUDA tensor op, our CUDA RMSNorm against its C++
// reference, and a 1-rank NCCL all-reduce whose unique id goes over MPI.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/kernel_ops.h"
#include "trainer/dist.h"
#include "trainer/preflight.h"

namespace dsrl {
namespace {

const MpiSession& mpi() {
  static int argc = 0;
  static char** argv = nullptr;
  static MpiSession session(&argc, &argv);
  return session;
}

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
