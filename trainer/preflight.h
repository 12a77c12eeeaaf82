// Stage `preflight`: before a long job, check the all-reduce on every rank and the service endpoints.
#pragma once

#include <string>

namespace dsrl {

class Communicator;
struct PreflightConfig;

struct AllReduceCheck {
  bool sum_correct = false;  // every rank got size*(size+1)/2 from a buffer of (rank + 1)
  double seconds = 0;        // mean time of one timed all-reduce
  double bus_gbps = 0;       // bus bandwidth: bytes * 2 (n-1)/n / time, GB/s (as nccl-tests report it)
};

// All ranks call it. `device` is "cpu" or "cuda".
AllReduceCheck check_all_reduce(Communicator& comm, const std::string& device, int megabytes, int iterations);

// Runs the whole stage; returns the process exit code (1 if a check failed, with the reason logged).
int run_preflight(const PreflightConfig& config, Communicator& comm, const std::string& device,
                  const std::string& run_dir);

}  // namespace dsrl
