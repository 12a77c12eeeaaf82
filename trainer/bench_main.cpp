// dsrl-bench-model: training-step throughput of the model (forward + backward + AdamW), bf16 on CUDA or fp32 on
// CPU, and decode throughput. Prints one JSON line. Run by scripts/bench/model.sh beside the transformers baseline.
//   dsrl-bench-model CONFIG.json [--batch 4] [--seq 2048] [--steps 5] [--device cuda] [--impl mha|mqa]
#include <ATen/ATen.h>

#include <chrono>
#include <iostream>

#include "common/error.h"
#include "model/generate.h"
#include "model/transformer.h"
#include "trainer/adamw.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
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

int run(int argc, char** argv) {
  DSRL_CHECK(argc >= 2, "usage: dsrl-bench-model CONFIG.json [--batch B] [--seq L] [--steps N] [--device cpu|cuda] "
                        "[--impl mha|mqa] [--gen-batch B] [--gen-tokens N]");
  std::map<std::string, std::string> flags = {{"--batch", "4"},  {"--seq", "2048"},   {"--steps", "5"},
                                              {"--device", "cuda"}, {"--impl", "mha"}, {"--gen-batch", "64"},
                                              {"--gen-tokens", "128"}, {"--sparse", "1"}};
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
  double phase[3] = {0, 0, 0};  // forward + loss, backward, optimizer: seconds over the timed steps
  auto step = [&](bool timed) {
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor logits = model->forward(tokens.narrow(1, 0, L), options).logits;  // [B, L, V]
    at::Tensor loss = at::cross_entropy_loss(logits.reshape({B * L, -1}).to(at::kFloat),
                                             tokens.narrow(1, 1, L).reshape({B * L}));
    sync(device);
    auto t1 = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    loss.backward();
    sync(device);
    auto t2 = std::chrono::steady_clock::now();
    optimizer.step();
    sync(device);
    if (timed) {
      phase[0] += std::chrono::duration<double>(t1 - t0).count();
      phase[1] += std::chrono::duration<double>(t2 - t1).count();
      phase[2] += seconds_since(t2);
    }
  };
  step(false);  // warm-up
  for (int64_t i = 0; i < steps; ++i) step(true);
  const double train_tps = B * L * steps / (phase[0] + phase[1] + phase[2]);

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
                           "\"gen_batch\":{},\"gen_tokens_per_s\":{:.0f}}}",
                           flags["--impl"], options.sparse ? "" : "-dense", params / 1e6, B, L, train_tps,
                           phase[0] * 1e3 / steps, phase[1] * 1e3 / steps, phase[2] * 1e3 / steps, gen_batch, gen_tps)
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
