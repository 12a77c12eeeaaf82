// One-rank MPI communicator checks; the 2-rank run is tests/trainer/preflight_mpirun.sh.
#include "trainer/dist.h"
#include "tests/trainer/mpi_once.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "trainer/preflight.h"

namespace dsrl {
namespace {

using testing::mpi;

TEST(MpiCommunicator, OneRankAllReduceIsIdentity) {
  ASSERT_EQ(mpi().size(), 1);
  auto comm = make_mpi_communicator();
  EXPECT_EQ(comm->backend(), "mpi");
  at::Tensor t = at::arange(10, at::kFloat);
  at::Tensor before = t.clone();
  comm->all_reduce_sum(t);
  EXPECT_TRUE(at::equal(t, before));
}

TEST(MpiCommunicator, RejectsWhatMpiCannotSum) {
  mpi();
  auto comm = make_mpi_communicator();
  at::Tensor ints = at::ones({4}, at::kInt);
  EXPECT_THROW(comm->all_reduce_sum(ints), Error);
  at::Tensor strided = at::ones({4, 4}).t();
  EXPECT_THROW(comm->all_reduce_sum(strided), Error);
}

TEST(Preflight, AllReduceCheckOnOneRank) {
  mpi();
  auto comm = make_mpi_communicator();
  AllReduceCheck check = check_all_reduce(*comm, "cpu", 1, 2);
  EXPECT_TRUE(check.sum_correct);
  EXPECT_GT(check.seconds, 0);
}

TEST(Nccl, CpuBuildSaysHowToGetIt) {
#ifndef DSRL_CUDA
  try {
    make_nccl_communicator(mpi());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-DDSRL_CUDA=ON"), std::string::npos);
  }
#else
  GTEST_SKIP() << "CUDA build: NCCL is tested in gpu_tests";
#endif
}

}  // namespace
}  // namespace dsrl
