#include "trainer/preflight.h"

#include <ATen/ATen.h>

#include <chrono>

#include "common/log.h"
#include "trainer/config.h"
#include "trainer/dist.h"
#include "trainer/run_dir.h"
#include "trainer/service_probe.h"

namespace dsrl {

AllReduceCheck check_all_reduce(Communicator& comm, const std::string& device, int megabytes, int iterations) {
  AllReduceCheck result;
  const auto options = at::TensorOptions().dtype(at::kFloat).device(device == "cuda" ? at::kCUDA : at::kCPU);
  // Correctness: rank r contributes r + 1 everywhere (exact in fp32 for any realistic rank count).
  at::Tensor small = at::full({4096}, static_cast<double>(comm.rank() + 1), options);
  comm.all_reduce_sum(small);
  const double expected = comm.size() * (comm.size() + 1) / 2.0;
  at::Tensor agree = (small == expected).all().to(at::kFloat).reshape({1});  // 1 where this rank got it right
  comm.all_reduce_sum(agree);
  result.sum_correct = agree.item<float>() == comm.size();

  const int64_t elements = static_cast<int64_t>(megabytes) * (1 << 20) / 4;
  at::Tensor buffer = at::ones({elements}, options);
  comm.all_reduce_sum(buffer);  // warm-up (connection set-up)
  comm.barrier();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) comm.all_reduce_sum(buffer);
  comm.barrier();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iterations;
  const double n = comm.size();
  result.bus_gbps = elements * 4.0 * 2.0 * (n - 1) / n / result.seconds / 1e9;
  return result;
}

int run_preflight(const PreflightConfig& config, Communicator& comm, const std::string& device,
                  const std::string& run_dir) {
  auto log = logger("trainer");
  const AllReduceCheck reduce = check_all_reduce(comm, device, config.allreduce_mb, config.allreduce_iters);
  if (comm.rank() != 0) return reduce.sum_correct ? 0 : 1;

  log->info("all-reduce ({} on {}, {} ranks): sum {}, {} MiB in {:.3f} ms, {}", comm.backend(), device,
            comm.size(), reduce.sum_correct ? "correct" : "WRONG", config.allreduce_mb, reduce.seconds * 1e3,
            comm.size() > 1 ? fmt::format("bus bandwidth {:.2f} GB/s", reduce.bus_gbps)
                            : std::string("no traffic with one rank"));
  int failures = reduce.sum_correct ? 0 : 1;
  std::string probes_json;
  auto record = [&](const EndpointProbe& p) {
    (p.ok ? log->info("{} {} ok in {:.1f} ms: {}", p.service, p.endpoint, p.latency_ms, p.detail)
          : log->error("{} {} FAILED: {}", p.service, p.endpoint, p.detail));
    failures += p.ok ? 0 : 1;
    probes_json += fmt::format("{}{{\"service\":\"{}\",\"endpoint\":\"{}\",\"ok\":{},\"latency_ms\":{:.3f}}}",
                               probes_json.empty() ? "" : ",", p.service, p.endpoint, p.ok, p.latency_ms);
  };
  for (const auto& endpoint : config.rollout_endpoints) record(probe_rollout(endpoint, config.deadline_s));
  for (const auto& endpoint : config.reward_endpoints) record(probe_reward(endpoint, config.deadline_s));

  append_metrics(run_dir, fmt::format("{{\"stage\":\"preflight\",\"ranks\":{},\"backend\":\"{}\",\"allreduce_ok\":{},"
                                      "\"allreduce_ms\":{:.3f},\"bus_gbps\":{:.3f},\"endpoints\":[{}]}}",
                                      comm.size(), comm.backend(), reduce.sum_correct, reduce.seconds * 1e3,
                                      reduce.bus_gbps, probes_json));
  if (failures > 0) {
    log->error("preflight found {} problem(s); see above", failures);
    return 1;
  }
  log->info("preflight passed: {} ranks, {} endpoints; results in {}/metrics.jsonl", comm.size(),
            config.rollout_endpoints.size() + config.reward_endpoints.size(), run_dir);
  return 0;
}

}  // namespace dsrl
