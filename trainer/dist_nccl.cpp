// NCCL communicator (built with -DDSRL_CUDA=ON). Rank 0 makes the unique id and broadcasts it over MPI.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#include <mpi.h>
#include <nccl.h>

#include "common/error.h"
#include "trainer/dist.h"

namespace dsrl {
namespace {

#define DSRL_NCCL(call)                                                                          \
  do {                                                                                           \
    ncclResult_t dsrl_rc_ = (call);                                                              \
    DSRL_CHECK(dsrl_rc_ == ncclSuccess, "{} failed: {}", #call, ncclGetErrorString(dsrl_rc_));   \
  } while (0)

ncclDataType_t nccl_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kBFloat16: return ncclBfloat16;
    case at::kHalf: return ncclFloat16;
    default: DSRL_FAIL("NCCL all-reduce supports fp32, fp64, bf16, fp16; got {}", c10::toString(type));
  }
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const MpiSession& mpi) : rank_(mpi.rank()), size_(mpi.size()) {
    const int devices = static_cast<int>(at::cuda::device_count());
    DSRL_CHECK(devices > 0, "device cuda: no GPU visible on rank {}", rank_);
    device_ = mpi.local_rank() % devices;
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_));  // this rank's GPU: where at::kCUDA tensors go
    ncclUniqueId id;
    if (rank_ == 0) DSRL_NCCL(ncclGetUniqueId(&id));
    MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
    DSRL_NCCL(ncclCommInitRank(&comm_, size_, id, rank_));
  }
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }
  std::string backend() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(at::Tensor& tensor) override {
    DSRL_CHECK(tensor.is_cuda() && tensor.get_device() == device_,
               "NCCL all-reduce needs a tensor on cuda:{}, got one on {}", device_, tensor.device().str());
    DSRL_CHECK(tensor.is_contiguous(), "all-reduce needs a contiguous tensor");
    auto stream = at::cuda::getCurrentCUDAStream(device_);
    DSRL_NCCL(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(), nccl_type(tensor.scalar_type()),
                            ncclSum, comm_, stream));
  }
  void barrier() override {
    at::cuda::getCurrentCUDAStream(device_).synchronize();
    MPI_Barrier(MPI_COMM_WORLD);
  }

 private:
  int rank_, size_, device_ = 0;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const MpiSession& mpi) {
  return std::make_unique<NcclCommunicator>(mpi);
}

}  // namespace dsrl
