// Data-parallel communication for the trainer: MPI starts the ranks (mpirun or srun); tensors are all-reduced
// with MPI on CPU and with NCCL on GPU (the NCCL unique id travels over MPI).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

namespace dsrl {

// MPI_Init_thread on construction, MPI_Finalize on destruction. Works without a launcher (one rank).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes on this host
  int local_size() const { return local_size_; }
  // Rank 0's `text` on every rank.
  std::string broadcast(const std::string& text) const;
  // Ends every rank of the job (MPI_Abort): one rank's failure must not leave the others waiting forever.
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;  // "mpi" or "nccl"
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums `tensor` (contiguous; fp32/fp64 on MPI, also bf16/fp16 on NCCL) over all ranks, in place.
  virtual void all_reduce_sum(at::Tensor& tensor) = 0;
  // Blocks until every rank has called it (and, for NCCL, until queued GPU work is done).
  virtual void barrier() = 0;
};

// MPI over COMM_WORLD for CPU tensors.
std::unique_ptr<Communicator> make_mpi_communicator();
// NCCL over all ranks for CUDA tensors on this rank's GPU (local rank modulo visible GPUs), which it makes the
// process's current device. Needs DSRL_CUDA.
std::unique_ptr<Communicator> make_nccl_communicator(const MpiSession& mpi);

}  // namespace dsrl
