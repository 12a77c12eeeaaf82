#include "trainer/lm_stage.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>

#include "common/log.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"
#include "trainer/dist.h"
#include "trainer/run_dir.h"
#include "trainer/tensorboard.h"
#include "trainer/train_checkpoint.h"

namespace dsrl {
namespace {

// Matrices decay; norms, biases and the embedding do not. The indexer is not trained by this stage (it learns in
// dense_warmup / sparse), so it is frozen here.
std::vector<ParamGroup> param_groups(DeepseekV32& model, const OptimConfig& optim) {
  ParamGroup decay{"decay", {}, optim.lr, optim.weight_decay}, plain{"no_decay", {}, optim.lr, 0.0};
  for (auto& p : model->named_parameters()) {
    if (p.key().find(".indexer.") != std::string::npos) {
      p.value().set_requires_grad(false);
      continue;
    }
    const bool matrix = p.value().dim() >= 2 && p.key().find("embed_tokens") == std::string::npos;
    (matrix ? decay : plain).params.push_back(p.value());
  }
  return {decay, plain};
}

// Sums every trainable gradient over the ranks in one flat buffer (a missing gradient counts as zero, so every
// rank contributes the same layout).
void all_reduce_gradients(std::vector<ParamGroup>& groups, Communicator& comm) {
  if (comm.size() == 1) return;
  std::vector<at::Tensor> grads, parts;
  for (auto& g : groups)
    for (auto& p : g.params) {
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad());
      parts.push_back(p.grad().flatten());
    }
  at::Tensor flat = at::cat(parts);  // mixed dtypes promote (fp32 router weights among bf16)
  comm.all_reduce_sum(flat);
  int64_t offset = 0;
  for (auto& g : grads) {
    g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
    offset += g.numel();
  }
}

// Scales gradients so their global norm is at most max_norm; returns the norm before clipping (one host sync).
double clip_gradients(const std::vector<ParamGroup>& groups, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> squares;
  for (const auto& g : groups)
    for (const auto& p : g.params)
      if (p.grad().defined()) squares.push_back(p.grad().to(at::kFloat).pow(2).sum());
  if (squares.empty()) return 0;
  const double norm = std::sqrt(at::stack(squares).sum().item<double>());
  if (max_norm > 0 && norm > max_norm)
    for (const auto& g : groups)
      for (const auto& p : g.params)
        if (p.grad().defined()) p.grad().mul_(max_norm / (norm + 1e-6));
  return norm;
}

// Aux-loss-free balancing (DeepSeek-V3): tokens routed to each expert of each MoE layer, summed over the ranks,
// move the routers' correction biases towards balance. Returns the mean over layers of max load / mean load.
double balance_experts(DeepseekV32& model, const std::vector<at::Tensor>& expert_ids, double rate, Communicator& comm) {
  if (expert_ids.empty()) return 1.0;
  at::NoGradGuard no_grad;
  const int64_t E = model->config().n_routed_experts;
  std::vector<at::Tensor> counts;
  for (const auto& ids : expert_ids) counts.push_back(at::bincount(ids.flatten(), {}, E).to(at::kFloat));
  at::Tensor load = at::stack(counts);  // [MoE layers, E]
  if (comm.size() > 1) comm.all_reduce_sum(load);
  at::Tensor mean = load.mean(1, true);
  if (rate > 0) {
    at::Tensor step = at::sign(mean - load) * rate;  // [MoE layers, E]: underloaded experts up, overloaded down
    int64_t layer = 0;
    for (auto& item : model->named_buffers())
      if (item.key().find("e_score_correction_bias") != std::string::npos) item.value().add_(step[layer++].to(item.value().device()));
  }
  return (load.amax(1, true) / mean.clamp_min(1e-9)).mean().item<double>();
}

// A scalar summed over the ranks (on the communicator's device).
double all_reduce_scalar(double value, Communicator& comm, const at::Device& device) {
  at::Tensor t = at::full({1}, value, at::TensorOptions().dtype(at::kDouble).device(device));
  if (comm.backend() == "nccl") t = t.to(at::kFloat);
  comm.all_reduce_sum(t);
  return t.to(at::kDouble).cpu().item<double>();
}

std::string eta(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  return s >= 3600 ? fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60) : fmt::format("{}m{:02d}s", s / 60, s % 60);
}

struct StepStats {
  double loss = 0;       // mean loss over the global batch's trained targets
  double grad_norm = 0;  // before clipping
  double imbalance = 1;  // MoE max / mean expert load
};

// One optimizer step on this rank's rows of the global batch.
StepStats train_step(DeepseekV32& model, AdamW& optimizer, std::vector<ParamGroup>& groups, const PackedBatch& batch,
                     const OptimConfig& optim, Communicator& comm, const at::Device& device) {
  const int64_t B = batch.rows, S = batch.seq_len;
  at::Tensor rows = at::tensor(batch.tokens, at::kInt).to(at::kLong).view({B, S + 1}).to(device);  // [B, S + 1]
  at::Tensor mask = at::tensor(batch.loss_mask, at::kByte).view({B, S}).to(device, at::kFloat);     // [B, S]
  const double global_targets = all_reduce_scalar(mask.sum().item<double>(), comm, device);
  ForwardOptions record;  // the routes, for load balancing
  record.record = true;
  ForwardResult out = model->forward(rows.narrow(1, 0, S), record);  // logits [B, S, V]
  at::Tensor nll = at::cross_entropy_loss(out.logits.reshape({B * S, -1}).to(at::kFloat),
                                          rows.narrow(1, 1, S).reshape({B * S}), {}, at::Reduction::None);
  // This rank's share of the global mean: summing gradients over the ranks gives the single-rank gradient.
  at::Tensor loss = (nll * mask.flatten()).sum() / std::max(1.0, global_targets);
  optimizer.zero_grad();
  loss.backward();
  all_reduce_gradients(groups, comm);
  StepStats stats;
  stats.grad_norm = clip_gradients(groups, optim.grad_clip);
  optimizer.step();
  stats.imbalance = balance_experts(model, out.expert_ids, optim.router_bias_rate, comm);
  stats.loss = all_reduce_scalar(loss.item<double>(), comm, device);
  return stats;
}

}  // namespace

double learning_rate(const OptimConfig& o, int64_t step, int64_t steps) {
  if (o.warmup_steps > 0 && step <= o.warmup_steps) return o.lr * static_cast<double>(step) / o.warmup_steps;
  const double span = std::max<int64_t>(1, steps - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + std::cos(M_PI * progress));
}

int run_lm_stage(const TrainConfig& cfg, Communicator& comm, const std::string& run_dir, bool resume) {
  auto log = logger("trainer");
  const bool root = comm.rank() == 0;
  const at::Device device = cfg.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  DeepseekV32 model(load_model_config(cfg.model.checkpoint.empty() ? cfg.model.config : cfg.model.checkpoint));
  if (cfg.model.checkpoint.empty()) init_weights(model, cfg.model.init_seed);
  else load_weights(model, cfg.model.checkpoint);
  cast_model(model, device, device.is_cuda() ? at::kBFloat16 : at::kFloat);
  std::vector<ParamGroup> groups = param_groups(model, cfg.optim);
  AdamW optimizer(groups, AdamWOptions{cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps});
  auto tokenizer = load_tokenizer(cfg.tokenizer);
  DataLoader data(cfg.data, *tokenizer);
  if (root) log->info("{}", data.summary());

  TrainState state;
  if (resume) {
    if (auto latest = latest_checkpoint(run_dir)) {
      state = load_train_checkpoint(*latest, model, optimizer);
      data.seek(state.data);
      if (root) log->info("resuming from {} (step {})", *latest, state.step);
    } else if (root) {
      log->warn("--resume: no complete checkpoint in {}/checkpoints; starting from step 0", run_dir);
    }
  }
  const LoopConfig& loop = cfg.train;
  const int64_t last = loop.stop_after > 0 ? std::min(loop.stop_after, loop.steps) : loop.steps;
  std::unique_ptr<EventWriter> events;  // TensorBoard: <run_dir>/tensorboard (rank 0)
  if (root) events = std::make_unique<EventWriter>(run_dir + "/tensorboard");
  const auto start = std::chrono::steady_clock::now();
  const int64_t first = state.step + 1;  // the first step of this run (after a resume, not 1)
  int64_t tokens_done = 0;
  for (int64_t step = state.step + 1; step <= last; ++step) {
    const double lr = learning_rate(cfg.optim, step, loop.steps);
    for (auto& g : optimizer.groups()) g.lr = lr;
    PackedBatch batch = data.next_batch(loop.rows_per_rank, comm.rank(), comm.size());
    const StepStats stats = train_step(model, optimizer, groups, batch, cfg.optim, comm, device);
    state.step = step;
    state.data = data.position();
    tokens_done += batch.rows * batch.seq_len * comm.size();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double tps = tokens_done / std::max(elapsed, 1e-9);
    if (root) {
      append_metrics(run_dir, fmt::format("{{\"step\":{},\"loss\":{:.17g},\"lr\":{:.17g},\"grad_norm\":{:.17g},"
                                          "\"moe_max_load\":{:.6g},\"tokens\":{},\"tokens_per_s\":{:.1f}}}",
                                          step, stats.loss, lr, stats.grad_norm, stats.imbalance, tokens_done, tps));
      for (const auto& [tag, value] : {std::pair<const char*, double>{"train/loss", stats.loss}, {"train/lr", lr},
                                       {"train/grad_norm", stats.grad_norm}, {"train/tokens_per_s", tps},
                                       {"train/moe_max_load", stats.imbalance}})
        events->scalar(tag, value, step);
      events->flush();
      if (step % loop.log_every == 0 || step == last)
        log->info("step {}/{} loss {:.4f} lr {:.3g} grad_norm {:.3f} moe max/mean load {:.2f} {:.0f} tokens/s eta {}",
                  step, loop.steps, stats.loss, lr, stats.grad_norm, stats.imbalance, tps,
                  eta(elapsed / (step - first + 1) * (last - step)));
    }
    const bool checkpoint = step == last || (loop.checkpoint_every > 0 && step % loop.checkpoint_every == 0);
    if (checkpoint && root) save_train_checkpoint(run_dir, model, optimizer, state, loop.keep_checkpoints);
    if (checkpoint) comm.barrier();
  }
  if (root) log->info("stage lm done at step {}; model in {}/checkpoints/{}", state.step, run_dir,
                      fmt::format("step-{:08d}/model", state.step));
  return 0;
}

}  // namespace dsrl
