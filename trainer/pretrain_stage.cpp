#include "trainer/pretrain_stage.h"

#include <ATen/ATen.h>

#include <chrono>

#include "common/config.h"
#include "common/log.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"
#include "trainer/dist.h"
#include "trainer/optim_step.h"
#include "trainer/run_dir.h"
#include "trainer/tensorboard.h"
#include "trainer/train_checkpoint.h"

namespace dsrl {
namespace {

std::string eta(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  return s >= 3600 ? fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60) : fmt::format("{}m{:02d}s", s / 60, s % 60);
}

// What one stage optimizes, fixed for the run.
struct Objective {
  bool lm_loss;        // next-token loss (lm, sparse)
  bool indexer_loss;   // KL of the indexer to the main attention (dense_warmup, sparse)
  bool balance;        // aux-loss-free router-bias update (not in dense_warmup: the main model stays bit-identical)
  double balance_alpha;  // sequence-wise balance loss weight (0: off; always 0 in dense_warmup)
  bool sparse;         // top-k attention
  double kl_weight;
  int64_t index_topk;  // queries at positions >= this have more keys than the indexer keeps: they define recall
  int64_t layers;
};

Objective objective_of(const TrainConfig& c, const ModelConfig& m) {
  const bool main_trains = c.stage != "dense_warmup";
  return Objective{main_trains, c.stage != "lm", main_trains, main_trains ? c.optim.seq_balance_alpha : 0.0,
                   sparse_attention(c), c.indexer.kl_weight, m.index_topk, m.num_hidden_layers};
}

// Sums over one optimizer step's micro-batches (and, after the all-reduce, over the ranks).
struct StepSums {
  double loss = 0;          // the optimized loss (each micro-batch's share of the global mean)
  double nll = 0;           // next-token loss summed over trained targets
  double kl = 0;            // indexer KL summed over queries and layers
  double recall = 0, recall_queries = 0;  // top-k mass recall summed over queries (at positions >= index_topk)
  std::vector<double> values() const { return {loss, nll, kl, recall, recall_queries}; }
};

struct Totals {
  double targets = 0;   // trained next-token targets in the global batch
  double queries = 0;   // query positions x layers in the global batch (the KL's mean)
  double rows = 0;      // rows in the global batch (the balance loss's mean)
};

// Forward and backward of one micro-batch; adds to `sums` and, for balancing, to `load` ([MoE layers, E]).
void forward_backward(DeepseekV32& model, const PackedBatch& batch, const Objective& obj, const Totals& totals,
                      const at::Device& device, StepSums& sums, at::Tensor& load) {
  const int64_t B = batch.rows, S = batch.seq_len;
  at::Tensor rows = at::tensor(batch.tokens, at::kInt).to(at::kLong).view({B, S + 1}).to(device);  // [B, S + 1]
  at::Tensor mask = at::tensor(batch.loss_mask, at::kByte).view({B, S}).to(device, at::kFloat);     // [B, S]
  ForwardOptions o;
  o.record = obj.balance;  // the routes, for load balancing
  o.record_topk = false;
  o.sparse = obj.sparse;
  o.indexer_loss = obj.indexer_loss;
  o.balance_loss = obj.balance_alpha > 0;
  ForwardResult out = model->forward(rows.narrow(1, 0, S), o);  // logits [B, S, V]
  at::Tensor nll = (at::cross_entropy_loss(out.logits.reshape({B * S, -1}).to(at::kFloat),
                                           rows.narrow(1, 1, S).reshape({B * S}), {}, at::Reduction::None) *
                    mask.flatten()).sum();
  // Each term is this micro-batch's share of the global mean: summed gradients over micro-batches and ranks give
  // the gradient of the whole batch's mean.
  at::Tensor loss = at::zeros({}, nll.options());
  if (obj.lm_loss) loss = loss + nll / std::max(1.0, totals.targets);
  if (!out.balance.empty()) loss = loss + at::stack(out.balance).sum() * (obj.balance_alpha / totals.rows);
  at::Tensor kl, recall;
  if (obj.indexer_loss) {
    kl = at::stack(out.indexer.kl).sum();                                  // over layers and queries
    loss = loss + kl * (obj.kl_weight / std::max(1.0, totals.queries));
    if (S > obj.index_topk) recall = at::stack(out.indexer.recall).narrow(2, obj.index_topk, S - obj.index_topk);
  }
  if (loss.requires_grad()) loss.backward();
  if (obj.balance) {
    at::Tensor l = expert_load(out.expert_ids, model->config().n_routed_experts);
    if (l.defined()) load = load.defined() ? load + l : l;
  }
  std::vector<at::Tensor> parts = {loss.detach(), nll.detach()};  // one host sync for the stats
  if (kl.defined()) parts.push_back(kl.detach());
  if (recall.defined()) parts.push_back(recall.sum());
  at::Tensor host = at::stack(parts).to(at::kCPU, at::kDouble);
  const double* v = host.data_ptr<double>();
  sums.loss += v[0];
  sums.nll += v[1];
  if (kl.defined()) sums.kl += v[2];
  if (recall.defined()) sums.recall += v[3], sums.recall_queries += static_cast<double>(recall.numel());
}

struct StepStats {
  double loss = 0;       // the optimized loss over the global batch
  double lm_loss = 0;    // mean next-token loss over the global batch's trained targets
  double kl = 0;         // mean indexer KL per query and layer
  double recall = 1;     // mean top-k attention-mass recall (1 when no query has more keys than index_topk)
  double grad_norm = 0;  // before clipping
  double imbalance = 1;  // MoE max / mean expert load
};

// One optimizer step over `micro` micro-batches of this rank's rows.
StepStats train_step(DeepseekV32& model, AdamW& optimizer, std::vector<ParamGroup>& groups,
                     const std::vector<PackedBatch>& micro, const Objective& obj, const TrainConfig& cfg,
                     Communicator& comm, const at::Device& device) {
  Totals totals;
  double local_targets = 0;
  for (const auto& b : micro)
    for (uint8_t m : b.loss_mask) local_targets += m;
  totals.targets = all_reduce_values({local_targets}, comm, device)[0];
  totals.rows = static_cast<double>(micro.size() * micro[0].rows * comm.size());
  totals.queries = totals.rows * static_cast<double>(micro[0].seq_len * obj.layers);
  optimizer.zero_grad();
  StepSums sums;
  at::Tensor load;
  for (const auto& b : micro) forward_backward(model, b, obj, totals, device, sums, load);
  all_reduce_gradients(groups, comm);
  StepStats stats;
  stats.grad_norm = clip_gradients(groups, cfg.optim.grad_clip);
  optimizer.step();
  if (obj.balance) stats.imbalance = balance_experts(model, load, cfg.optim.router_bias_rate, comm);
  const std::vector<double> g = all_reduce_values(sums.values(), comm, device);
  stats.loss = g[0];
  stats.lm_loss = g[1] / std::max(1.0, totals.targets);
  stats.kl = g[2] / std::max(1.0, totals.queries);
  if (g[4] > 0) stats.recall = g[3] / g[4];
  return stats;
}

// Micro-batches per optimizer step: train.tokens_per_step over the tokens one forward of every rank covers.
int64_t micro_batches(const TrainConfig& c, int ranks) {
  const int64_t per_forward = c.train.rows_per_rank * c.data.seq_len * ranks;
  if (c.train.tokens_per_step == 0) return 1;
  if (c.train.tokens_per_step % per_forward != 0)
    throw ConfigError(fmt::format("train.tokens_per_step must be a multiple of train.rows_per_rank x data.seq_len x "
                                  "ranks = {} x {} x {} = {}, got {}",
                                  c.train.rows_per_rank, c.data.seq_len, ranks, per_forward, c.train.tokens_per_step));
  return c.train.tokens_per_step / per_forward;
}

// The stage's numbers for the progress line.
std::string describe_step(const Objective& obj, const StepStats& s) {
  std::string text = fmt::format("loss {:.4f}", s.loss);
  if (obj.indexer_loss) text += fmt::format(" (lm {:.4f} kl {:.4f}) top-k recall {:.3f}", s.lm_loss, s.kl, s.recall);
  if (obj.balance) text += fmt::format(" moe max/mean load {:.2f}", s.imbalance);
  return text;
}

void record_step(const std::string& run_dir, EventWriter& events, const Objective& obj, int64_t step, double lr,
                 const StepStats& s, int64_t tokens, double tps, double step_s) {
  std::string line = fmt::format("{{\"step\":{},\"loss\":{:.17g},\"lm_loss\":{:.17g},\"lr\":{:.17g},"
                                 "\"grad_norm\":{:.17g},\"moe_max_load\":{:.6g}",
                                 step, s.loss, s.lm_loss, lr, s.grad_norm, s.imbalance);
  if (obj.indexer_loss) line += fmt::format(",\"indexer_kl\":{:.17g},\"topk_recall\":{:.17g}", s.kl, s.recall);
  append_metrics(run_dir, line + fmt::format(",\"tokens\":{},\"tokens_per_s\":{:.1f},\"step_s\":{:.6f}}}", tokens,
                                             tps, step_s));
  std::vector<std::pair<const char*, double>> scalars = {
      {"train/loss", s.loss}, {"train/lm_loss", s.lm_loss}, {"train/lr", lr}, {"train/grad_norm", s.grad_norm},
      {"train/tokens_per_s", tps}, {"train/moe_max_load", s.imbalance}};
  if (obj.indexer_loss) scalars.insert(scalars.end(), {{"train/indexer_kl", s.kl}, {"train/topk_recall", s.recall}});
  for (const auto& [tag, value] : scalars) events.scalar(tag, value, step);
  events.flush();
}

}  // namespace

int run_pretrain_stage(const TrainConfig& cfg, Communicator& comm, const std::string& run_dir, bool resume) {
  auto log = logger("trainer");
  const bool root = comm.rank() == 0;
  const at::Device device = cfg.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  DeepseekV32 model = load_model_source(cfg.model, device, device.is_cuda() ? at::kBFloat16 : at::kFloat);
  const Objective obj = objective_of(cfg, model->config());
  if (root && obj.indexer_loss && cfg.data.seq_len <= obj.index_topk)
    log->warn("data.seq_len {} <= index_topk {}: every query keeps all its keys, so top-k attention is dense and "
              "the recall is 1", cfg.data.seq_len, obj.index_topk);
  std::vector<ParamGroup> groups = stage_param_groups(model, cfg);
  std::vector<double> peak_lr;
  for (const auto& g : groups) peak_lr.push_back(g.lr);
  AdamW optimizer(groups, AdamWOptions{cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps});
  auto tokenizer = load_tokenizer(cfg.tokenizer);
  DataLoader data(cfg.data, *tokenizer);
  const int64_t micro = micro_batches(cfg, comm.size());
  if (root) log->info("{}; {} micro-batch(es) of {} row(s) per rank per step, {} attention", data.summary(), micro,
                      cfg.train.rows_per_rank, obj.sparse ? "sparse" : "dense");

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
  for (int64_t step = first; step <= last; ++step) {
    const double factor = schedule_factor(cfg.optim, step, loop.steps);
    for (size_t i = 0; i < groups.size(); ++i) optimizer.groups()[i].lr = peak_lr[i] * factor;
    const auto step_start = std::chrono::steady_clock::now();
    std::vector<PackedBatch> batches;
    for (int64_t m = 0; m < micro; ++m) batches.push_back(data.next_batch(loop.rows_per_rank, comm.rank(), comm.size()));
    const StepStats stats = train_step(model, optimizer, groups, batches, obj, cfg, comm, device);
    state.step = step;
    state.data = data.position();
    tokens_done += micro * loop.rows_per_rank * cfg.data.seq_len * comm.size();
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double step_s = std::chrono::duration<double>(now - step_start).count();
    const double tps = tokens_done / std::max(elapsed, 1e-9);
    if (root) {
      const double lr = optimizer.groups()[0].lr;
      record_step(run_dir, *events, obj, step, lr, stats, tokens_done, tps, step_s);
      if (step % loop.log_every == 0 || step == last)
        log->info("step {}/{} {} lr {:.3g} grad_norm {:.3f} {:.0f} tokens/s eta {}", step, loop.steps,
                  describe_step(obj, stats), lr, stats.grad_norm, tps,
                  eta(elapsed / (step - first + 1) * (last - step)));
    }
    const bool checkpoint = step == last || (loop.checkpoint_every > 0 && step % loop.checkpoint_every == 0);
    if (checkpoint && root) save_train_checkpoint(run_dir, model, optimizer, state, loop.keep_checkpoints);
    if (checkpoint) comm.barrier();
  }
  if (root) log->info("stage {} done at step {}; model in {}/checkpoints/{}", cfg.stage, state.step, run_dir,
                      fmt::format("step-{:08d}/model", state.step));
  return 0;
}

}  // namespace dsrl
