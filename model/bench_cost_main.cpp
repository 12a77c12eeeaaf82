// dsrl-bench-cost: inference cost per million tokens against token position, dense attention against DSA, for one
// model on one GPU: the shape of DeepSeek-V3.2's cost figure, measured on our model. For each position L:
//   prefill: one sequence whose cache holds L tokens takes a chunk of --chunk tokens; cost per token = time / chunk
//   decode:  --batch sequences of L cached tokens take one token each (the rollout's fixed-shape decode step);
//            cost per token = time / batch
// Dense runs every causal key (ForwardOptions::sparse = false); DSA attends to the indexer's top --topk, on the
// kernels (docs/kernels.md). The cache holds zeros: the work does not depend on its values. One JSON line each.
//   dsrl-bench-cost CONFIG.json [--positions 1024,4096] [--chunk 512] [--batch 32] [--topk 2048] [--usd-per-hour 2]
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "model/kv_cache.h"
#include "model/transformer.h"

namespace dsrl {
namespace {

// Median seconds of `iters` calls of fn after one warm-up; prepare() runs untimed before each.
template <class Prepare, class Fn>
double median_seconds(int iters, Prepare prepare, Fn fn) {
  std::vector<double> times;
  for (int i = 0; i <= iters; ++i) {
    prepare();
    at::cuda::getCurrentCUDAStream().synchronize();
    const auto start = std::chrono::steady_clock::now();
    fn();
    at::cuda::getCurrentCUDAStream().synchronize();
    if (i > 0) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double prefill_seconds(DeepseekV32& model, const ModelConfig& c, int64_t position, int64_t chunk, bool sparse) {
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  KVCache cache(c, 1, position + chunk, opts);
  at::Tensor tokens = at::randint(0, c.vocab_size, {1, chunk}, opts.dtype(at::kLong));
  ForwardOptions o;
  o.cache = &cache;
  o.sparse = sparse;
  auto refill = [&] {  // back to `position` cached tokens
    cache.reset_row(0);
    for (int64_t i = 0; i < position; ++i) cache.grow(0);
  };
  return median_seconds(5, refill, [&] { model->forward(tokens, o); });
}

double decode_seconds(DeepseekV32& model, const ModelConfig& c, int64_t position, int64_t batch, bool sparse) {
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  KVCache cache(c, batch, position + 1, opts);
  at::Tensor tokens = at::randint(0, c.vocab_size, {batch, 1}, opts.dtype(at::kLong));
  ForwardOptions o;
  o.cache = &cache;
  o.sparse = sparse;
  o.decode_lengths = at::full({batch}, position, opts.dtype(at::kLong));
  return median_seconds(5, [] {}, [&] { model->forward(tokens, o); });
}

std::vector<int64_t> parse_positions(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

int run(int argc, char** argv) {
  DSRL_CHECK(argc >= 2 && argc % 2 == 0, "usage: dsrl-bench-cost CONFIG.json [--positions 1024,4096] [--chunk 512] "
                                         "[--batch 32] [--topk 2048] [--usd-per-hour 2]");
  std::map<std::string, std::string> flags = {{"--positions", "1024,2048,4096,8192,16384,32768"},
                                              {"--chunk", "512"}, {"--batch", "32"}, {"--topk", "2048"},
                                              {"--usd-per-hour", "2"}};
  for (int i = 2; i + 1 < argc; i += 2) {
    DSRL_CHECK(flags.count(argv[i]), "unknown flag {}", argv[i]);
    flags[argv[i]] = argv[i + 1];
  }
  DSRL_CHECK(at::hasCUDA(), "dsrl-bench-cost needs a GPU");
  ModelConfig config = load_model_config(argv[1]);
  config.index_topk = std::stoll(flags["--topk"]);
  const std::vector<int64_t> positions = parse_positions(flags["--positions"]);
  const int64_t chunk = std::stoll(flags["--chunk"]), batch = std::stoll(flags["--batch"]);
  config.max_position_embeddings = static_cast<int>(
      std::max<int64_t>(config.max_position_embeddings, *std::max_element(positions.begin(), positions.end()) + chunk));
  const double usd_per_second = std::stod(flags["--usd-per-hour"]) / 3600;
  DeepseekV32 model(config);
  init_weights(model, 0);
  cast_model(model, at::kCUDA, at::kBFloat16);
  at::NoGradGuard no_grad;
  for (int64_t position : positions)
    for (bool sparse : {false, true}) {
      const double prefill = prefill_seconds(model, config, position, chunk, sparse) / chunk;
      const double decode = decode_seconds(model, config, position, batch, sparse) / batch;
      for (auto [phase, per_token] : {std::pair<const char*, double>{"prefill", prefill}, {"decode", decode}})
        std::cout << fmt::format("{{\"phase\":\"{}\",\"attention\":\"{}\",\"position\":{},\"us_per_token\":{:.3f},"
                                 "\"usd_per_million_tokens\":{:.5f}}}",
                                 phase, sparse ? "dsa" : "dense", position, per_token * 1e6,
                                 per_token * 1e6 * usd_per_second)
                  << std::endl;
    }
  return 0;
}

}  // namespace
}  // namespace dsrl

int main(int argc, char** argv) {
  try {
    return dsrl::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "dsrl-bench-cost: " << e.what() << std::endl;
    return 1;
  }
}
