#include "trainer/config.h"

#include "common/config.h"

namespace dsrl {

void describe(ConfigIO& io, PreflightConfig& c) {
  io.field("rollout_endpoints", c.rollout_endpoints);
  io.field("reward_endpoints", c.reward_endpoints);
  io.field("deadline_s", c.deadline_s, 0.001, 3600.0);
  io.field("allreduce_mb", c.allreduce_mb, 1, 4096);
  io.field("allreduce_iters", c.allreduce_iters, 1, 1000);
}

void describe(ConfigIO& io, OptimConfig& c) {
  io.field("lr", c.lr, 0.0, 10.0);
  io.field("min_lr", c.min_lr, 0.0, 10.0);
  io.field("warmup_steps", c.warmup_steps, int64_t{0}, int64_t{1} << 40);
  io.field("weight_decay", c.weight_decay, 0.0, 10.0);
  io.field("beta1", c.beta1, 0.0, 0.999999);
  io.field("beta2", c.beta2, 0.0, 0.999999);
  io.field("eps", c.eps, 0.0, 1.0);
  io.field("grad_clip", c.grad_clip, 0.0, 1e6);
  io.field("router_bias_rate", c.router_bias_rate, 0.0, 1.0);
  io.field("seq_balance_alpha", c.seq_balance_alpha, 0.0, 10.0);
  if (io.reading() && c.min_lr > c.lr) io.fail("min_lr", fmt::format("must be <= lr ({}), got {}", c.lr, c.min_lr));
}

void describe(ConfigIO& io, IndexerTrainConfig& c) {
  io.field("lr", c.lr, 0.0, 10.0);
  io.field("kl_weight", c.kl_weight, 0.0, 1e6);
}

void describe(ConfigIO& io, LoopConfig& c) {
  constexpr int64_t kMany = int64_t{1} << 40;
  io.field("steps", c.steps, int64_t{1}, kMany);
  io.field("stop_after", c.stop_after, int64_t{0}, kMany);
  io.field("rows_per_rank", c.rows_per_rank, int64_t{1}, int64_t{1} << 20);
  io.field("tokens_per_step", c.tokens_per_step, int64_t{0}, kMany);
  io.field("log_every", c.log_every, int64_t{1}, kMany);
  io.field("checkpoint_every", c.checkpoint_every, int64_t{0}, kMany);
  io.field("keep_checkpoints", c.keep_checkpoints, int64_t{1}, int64_t{1000});
}

void describe(ConfigIO& io, TrainConfig& c) {
  io.choice("stage", c.stage, {"preflight", "lm", "dense_warmup", "sparse", "grpo", "synthesize", "refine"});
  io.choice("device", c.device, {"cpu", "cuda"});
  io.field("run_dir", c.run_dir);
  io.section("log", c.log);
  io.section("preflight", c.preflight);
  io.section("model", c.model);
  io.field("tokenizer", c.tokenizer);
  io.section("data", c.data);
  io.choice("attention", c.attention, {"auto", "dense", "sparse"});
  io.section("optim", c.optim);
  io.section("indexer", c.indexer);
  io.section("train", c.train);
  io.section("grpo", c.grpo);
  io.section("client_auth", c.client_auth);
  io.section("synth", c.synth);
  io.section("refine", c.refine);
  if (!io.reading() || c.stage == "preflight") return;
  if (c.model.checkpoint.empty() && c.model.config.empty())
    io.fail("model", "needs model.checkpoint (a folder) or model.config (a model config to initialise)");
  // grpo, synthesize and refine have their own data (grpo.tasks, synth, refine.tasks); the endpoints are checked
  // when they start.
  if (c.stage == "grpo" || c.stage == "synthesize") return;
  if (c.stage == "refine") {
    if (c.refine.tasks.empty()) io.fail("refine.tasks", "stage refine needs a JSONL file of problems");
    return;
  }
  if (c.data.sources.empty() && c.data.synthetic.task.empty())
    io.fail("data", "needs data.sources or data.synthetic.task: give at least one source file or a synthetic task");
  if (c.stage == "dense_warmup" && c.attention == "sparse")
    io.fail("attention", "dense_warmup trains the indexer against dense attention: use dense or auto, got sparse");
  if (c.stage == "sparse" && c.attention == "dense")
    io.fail("attention", "stage sparse is top-k attention: use sparse or auto, got dense");
}

bool sparse_attention(const TrainConfig& c) {
  return c.attention == "auto" ? (c.stage == "sparse" || c.stage == "grpo") : c.attention == "sparse";
}

}  // namespace dsrl
