// CUDA-graph decoding on the GPU (label gpu): the engine's replayed decode steps, with the batch padded to a bucket
// (5 sequences on 8 rows, shrinking as they finish), give behaviour log-probs that a teacher-forced bf16 forward
// with the recorded selections, routes and kept sets reproduces to bf16 rounding.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/checkpoint.h"
#include "model/sampling.h"
#include "proto/sampling_mask.h"
#include "rollout/engine.h"

namespace dsrl {
namespace {

std::vector<at::Tensor> per_layer(const std::vector<int64_t>& flat, int64_t layers, int64_t T, int64_t width) {
  return at::tensor(flat, at::kLong).view({layers, 1, T, width}).to(at::kCUDA).unbind(0);
}

TEST(GpuRollout, GraphDecodeMatchesTeacherForcedForward) {
  RolloutServiceConfig cfg;
  cfg.model.config = std::string(DSRL_SOURCE_DIR) + "/configs/model/tiny.yaml";
  cfg.model.init_seed = 3;
  cfg.engine.device = "cuda";
  cfg.engine.max_sequences = 8;
  cfg.engine.max_context = 128;
  cfg.engine.decode_graphs = "on";
  auto engine = Engine::create(cfg);
  DeepseekV32 model = load_model_source(cfg.model, at::kCUDA, at::kBFloat16);
  at::NoGradGuard no_grad;
  GenerationRequest r;
  for (int p = 0; p < 5; ++p) r.prompts.push_back({std::to_string(p), {256, 72 + p, 101, 108 + 3 * p}});
  r.sampling.temperature = 1.0;
  r.sampling.top_p = 0.95;
  r.sampling.max_new_tokens = 40;
  r.sampling.stop_token_ids = {7};  // some finish early: the bucket shrinks
  r.sampling.seed = 4;
  r.record_mask = r.record_routing = r.record_indexer = true;
  auto job = engine->submit(r);
  ASSERT_TRUE(job->wait_for(std::chrono::seconds(120)));
  double worst = 0, total = 0;
  int64_t count = 0;
  for (const GeneratedSample& s : job->take_samples()) {
    const auto& prompt = r.prompts[std::stoi(s.prompt_id)].tokens;
    const int64_t n = static_cast<int64_t>(s.tokens.size()), P = static_cast<int64_t>(prompt.size());
    std::vector<int64_t> seq = prompt;
    seq.insert(seq.end(), s.tokens.begin(), s.tokens.end() - 1);
    at::Tensor tokens = at::tensor(seq, at::kLong).unsqueeze(0).to(at::kCUDA);
    const int64_t T = tokens.size(1);
    std::vector<at::Tensor> topk = per_layer({s.indexer.begin(), s.indexer.end()}, s.indexer_layers, T, s.indexer_topk);
    std::vector<at::Tensor> routes = per_layer({s.routing.begin(), s.routing.end()}, s.routing_layers, T,
                                               s.experts_per_token);
    ForwardOptions replay;
    replay.replay_topk = &topk;
    replay.replay_experts = &routes;
    at::Tensor logits = model->forward(tokens, replay).logits[0].narrow(0, P - 1, n).cpu();  // [n, V]
    std::vector<at::Tensor> kept;
    for (const std::string& m : s.mask)
      kept.push_back(at::tensor(decode_kept_set(m, model->config().vocab_size), at::kByte));
    at::Tensor logp = masked_log_softmax(logits, at::stack(kept).to(at::kBool), r.sampling.temperature);
    at::Tensor got = logp.gather(1, at::tensor(s.tokens, at::kLong).unsqueeze(1)).squeeze(1);
    at::Tensor diff = (got - at::tensor(s.logprobs)).abs();
    worst = std::max(worst, diff.max().item<double>());
    total += diff.sum().item<double>();
    count += n;
  }
  EXPECT_LE(total / count, 0.02) << "mean |log-prob difference| over " << count << " tokens (bf16)";
  EXPECT_LE(worst, 0.15) << "worst |log-prob difference| (bf16)";
}

}  // namespace
}  // namespace dsrl
