#include "trainer/dist.h"

#include <ATen/ATen.h>
#include <mpi.h>

#include <cstdlib>

#include "common/error.h"

namespace dsrl {

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
}

MpiSession::~MpiSession() { MPI_Finalize(); }

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it ever did
}

std::string MpiSession::broadcast(const std::string& text) const {
  int64_t size = static_cast<int64_t>(text.size());
  MPI_Bcast(&size, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  std::string out = rank_ == 0 ? text : std::string(static_cast<size_t>(size), '\0');
  MPI_Bcast(out.data(), static_cast<int>(size), MPI_CHAR, 0, MPI_COMM_WORLD);
  return out;
}

namespace {

class MpiCommunicator final : public Communicator {
 public:
  std::string backend() const override { return "mpi"; }
  int rank() const override {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
  int size() const override {
    int s = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
  }
  void all_reduce_sum(at::Tensor& tensor) override {
    DSRL_CHECK(tensor.device().is_cpu(), "MPI all-reduce needs a CPU tensor, got one on {}", tensor.device().str());
    DSRL_CHECK(tensor.is_contiguous(), "all-reduce needs a contiguous tensor");
    MPI_Datatype type = MPI_DATATYPE_NULL;
    if (tensor.scalar_type() == at::kFloat) type = MPI_FLOAT;
    else if (tensor.scalar_type() == at::kDouble) type = MPI_DOUBLE;
    DSRL_CHECK(type != MPI_DATATYPE_NULL, "MPI all-reduce supports float32 and float64, got {}",
               c10::toString(tensor.scalar_type()));
    const int64_t n = tensor.numel();
    DSRL_CHECK(n <= INT32_MAX, "MPI all-reduce of {} elements exceeds MPI's int count; bucket it", n);
    const int rc = MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(n), type, MPI_SUM,
                                 MPI_COMM_WORLD);
    DSRL_CHECK(rc == MPI_SUCCESS, "MPI_Allreduce failed with code {}", rc);
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

#ifndef DSRL_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(const MpiSession&) {
  DSRL_FAIL("device cuda needs NCCL: rebuild with -DDSRL_CUDA=ON on a GPU machine (docs/gpu.md)");
}
#endif

}  // namespace dsrl
