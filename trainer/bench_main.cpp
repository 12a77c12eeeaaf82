// dsrl-bench-model: training-step throughput of the model (forward + backward + AdamW), bf16 on CUDA or fp32 on
// CPU, and decode throughput. Prints one JSON line. Run by scripts/bench/model.sh beside the transformers baseline.
// The timed steps run back to back with one sync after the last, as the baseline's do; the phase times come from
// CUDA events between them.
//   dsrl-bench-model CONFIG.json [--batch 4] [--seq 2048] [--steps 5] [--device cuda] [--impl mha|mqa]
//                    [--profile N]   (then one more step under the profiler: its N costliest GPU kernels)
//                    [--sync-phases 1]   (a host sync after each phase, as this bench used to time)
#include <ATen/ATen.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include "common/error.h"
#include "model/generate.h"
#include "model/transformer.h"
#include "trainer/adamw.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#endif

namespace dsrl {
namespace {

void sync(const at::Device& device) {
#ifdef DSRL_CUDA
  if (device.is_cuda()) at::cuda::getCurrentCUDAStream().synchronize();
#endif
  (void)device;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Boundaries between the phases of the timed steps. On CUDA they are events, so the steps run back to back with
// no host sync inside them (as the transformers baseline's steps do); on the CPU, host clock readings.
class PhaseMarks {
 public:
  explicit PhaseMarks(const at::Device& device) : cuda_(device.is_cuda()) {}
  void mark() {
#ifdef DSRL_CUDA
    if (cuda_) {
      events_.push_back(std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault));
      events_.back()->record();
      return;
    }
#endif
    clocks_.push_back(std::chrono::steady_clock::now());
  }
  // Seconds from mark i to mark i + 1; after a sync on CUDA.
  double seconds(size_t i) const {
#ifdef DSRL_CUDA
    if (cuda_) return events_.at(i)->elapsed_time(*events_.at(i + 1)) / 1e3;
#endif
    return std::chrono::duration<double>(clocks_.at(i + 1) - clocks_.at(i)).count();
  }

 private:
  bool cuda_;
  std::vector<std::chrono::steady_clock::time_point> clocks_;
#ifdef DSRL_CUDA
  std::vector<std::unique_ptr<at::cuda::CUDAEvent>> events_;
#endif
};

// Runs `step` once under the Kineto profiler and prints the `top` GPU kernels by total time, one JSON line each.
void print_gpu_profile(const std::function<void()>& step, int64_t top) {
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  const std::set<ActivityType> activities = {ActivityType::CPU, ActivityType::CUDA};
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  step();
  std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
  std::map<std::string, std::pair<double, int64_t>> kernels;  // name -> (ms, calls)
  double total_ms = 0;
  for (const auto& e : result->events()) {
    if (e.deviceType() != c10::DeviceType::CUDA) continue;
    auto& [ms, calls] = kernels[e.name().substr(0, 100)];
    ms += e.durationNs() / 1e6;
    calls += 1;
    total_ms += e.durationNs() / 1e6;
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> sorted(kernels.begin(), kernels.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::cout << fmt::format("{{\"profile_gpu_ms\":{:.2f},\"kernels\":{}}}", total_ms, kernels.size()) << std::endl;
  for (size_t i = 0; i < sorted.size() && static_cast<int64_t>(i) < top; ++i) {
    std::string name = sorted[i].first;
    std::replace(name.begin(), name.end(), '"', '\'');
    std::cout << fmt::format("{{\"kernel\":\"{}\",\"ms\":{:.2f},\"calls\":{}}}", name, sorted[i].second.first,
                             sorted[i].second.second)
              << std::endl;
  }
}

int run(int argc, char** argv) {
  DSRL_CHECK(argc >= 2, "usage: dsrl-bench-model CONFIG.json [--batch B] [--seq L] [--steps N] [--device cpu|cuda] "
                        "[--impl mha|mqa] [--gen-batch B] [--gen-tokens N]");
  std::map<std::string, std::string> flags = {{"--batch", "4"},  {"--seq", "2048"},   {"--steps", "5"},
                                              {"--device", "cuda"}, {"--impl", "mha"}, {"--gen-batch", "64"},
                                              {"--gen-tokens", "128"}, {"--sparse", "1"},
                                              {"--profile", "0"}, {"--sync-phases", "0"}};
  for (int i = 2; i + 1 < argc; i += 2) {
    DSRL_CHECK(flags.count(argv[i]), "unknown flag {}", argv[i]);
    flags[argv[i]] = argv[i + 1];
  }
  const int64_t B = std::stoll(flags["--batch"]), L = std::stoll(flags["--seq"]), steps = std::stoll(flags["--steps"]);
  const at::Device device(flags["--device"] == "cuda" ? at::kCUDA : at::kCPU);
  const at::ScalarType dtype = device.is_cuda() ? at::kBFloat16 : at::kFloat;
  ModelConfig config = load_model_config(argv[1]);
  DeepseekV32 model(config);
  init_weights(model, 0);
  cast_model(model, device, dtype);
  AdamW optimizer({ParamGroup{"all", model->parameters(), 1e-4, 0.0}});
  at::Tensor tokens = at::randint(0, config.vocab_size, {B, L + 1}, at::TensorOptions().dtype(at::kLong)).to(device);
  ForwardOptions options;
  options.impl = flags["--impl"] == "mqa" ? AttentionImpl::kMQA : AttentionImpl::kMHA;
  options.sparse = flags["--sparse"] == "1";
  // --sync-phases 1: a host sync after each phase too (this bench's timing before the 2026-11-24 22:34 UTC run).
  const bool sync_phases = flags["--sync-phases"] == "1";
  auto step = [&](PhaseMarks* marks) {  // marks: the boundaries of forward + loss, backward and optimizer
    auto boundary = [&] {
      if (!marks) return;
      marks->mark();
      if (sync_phases) sync(device);
    };
    boundary();
    at::Tensor logits = model->forward(tokens.narrow(1, 0, L), options).logits;  // [B, L, V]
    at::Tensor loss = at::cross_entropy_loss(logits.reshape({B * L, -1}).to(at::kFloat),
                                             tokens.narrow(1, 1, L).reshape({B * L}));
    boundary();
    optimizer.zero_grad();
    loss.backward();
    boundary();
    optimizer.step();
    boundary();
  };
  step(nullptr);  // warm-up
  sync(device);
  PhaseMarks marks(device);
  const auto train_start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step(&marks);
  sync(device);
  const double train_s = seconds_since(train_start);
  double phase[3] = {0, 0, 0};  // forward + loss, backward, optimizer: seconds over the timed steps (GPU time)
  for (int64_t i = 0; i < steps; ++i)
    for (int p = 0; p < 3; ++p) phase[p] += marks.seconds(static_cast<size_t>(4 * i + p));
  const double train_tps = B * L * steps / train_s;
  if (const int64_t top = std::stoll(flags["--profile"]); top > 0) print_gpu_profile([&] { step(nullptr); }, top);

  const int64_t gen_batch = std::stoll(flags["--gen-batch"]), gen_tokens = std::stoll(flags["--gen-tokens"]);
  std::vector<std::vector<int64_t>> prompts(gen_batch);
  for (auto& p : prompts)
    for (int j = 0; j < 128; ++j) p.push_back((j * 7919 + p.size()) % config.vocab_size);
  GenerateOptions g;
  g.max_new_tokens = gen_tokens;
  g.sampling.top_p = 0.95;
  generate(model, {prompts[0]}, g);  // warm-up
  sync(device);
  auto start = std::chrono::steady_clock::now();
  auto out = generate(model, prompts, g);
  sync(device);
  int64_t generated = 0;
  for (const auto& o : out) generated += static_cast<int64_t>(o.tokens.size());
  const double gen_tps = generated / seconds_since(start);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  std::cout << fmt::format("{{\"impl\":\"dsrl-{}{}\",\"params_M\":{:.1f},\"batch\":{},\"seq\":{},\"train_tokens_per_s\":{:.0f},"
                           "\"forward_ms\":{:.1f},\"backward_ms\":{:.1f},\"optimizer_ms\":{:.1f},"
                           "\"steps_timed\":\"{}\",\"gen_batch\":{},\"gen_tokens_per_s\":{:.0f}}}",
                           flags["--impl"], options.sparse ? "" : "-dense", params / 1e6, B, L, train_tps,
                           phase[0] * 1e3 / steps, phase[1] * 1e3 / steps, phase[2] * 1e3 / steps,
                           sync_phases ? "synced phases" : "back to back", gen_batch, gen_tps)
            << std::endl;
  return 0;
}

}  // namespace
}  // namespace dsrl

int main(int argc, char** argv) {
  try {
    return dsrl::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "dsrl-bench-model: " << e.what() << std::endl;
    return 1;
  }
}
