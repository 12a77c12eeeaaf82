#include "trainer/optim_step.h"

#include <ATen/ATen.h>

#include <cmath>

#include "trainer/dist.h"

namespace dsrl {
namespace {

bool is_indexer(const std::string& name) { return name.find(".indexer.") != std::string::npos; }

// Matrices decay; norms, biases and the embedding do not.
bool decays(const std::string& name, const at::Tensor& p) {
  return p.dim() >= 2 && name.find("embed_tokens") == std::string::npos;
}

}  // namespace

std::vector<ParamGroup> stage_param_groups(DeepseekV32& model, const TrainConfig& c) {
  const bool main_trains = c.stage != "dense_warmup";
  const bool indexer_trains = c.stage == "dense_warmup" || c.stage == "sparse";  // frozen in lm and grpo
  ParamGroup decay{"decay", {}, c.optim.lr, c.optim.weight_decay}, plain{"no_decay", {}, c.optim.lr, 0.0};
  ParamGroup index_decay{"indexer_decay", {}, c.indexer.lr, c.optim.weight_decay},
      index_plain{"indexer_no_decay", {}, c.indexer.lr, 0.0};
  for (auto& p : model->named_parameters()) {
    const bool indexer = is_indexer(p.key());
    const bool trains = indexer ? indexer_trains : main_trains;
    p.value().set_requires_grad(trains);
    if (!trains) continue;
    const bool d = decays(p.key(), p.value());
    (indexer ? (d ? index_decay : index_plain) : (d ? decay : plain)).params.push_back(p.value());
  }
  std::vector<ParamGroup> groups;
  for (ParamGroup* g : {&decay, &plain, &index_decay, &index_plain})
    if (!g->params.empty()) groups.push_back(std::move(*g));
  return groups;
}

double schedule_factor(const OptimConfig& o, int64_t step, int64_t steps) {
  if (o.warmup_steps > 0 && step <= o.warmup_steps) return static_cast<double>(step) / o.warmup_steps;
  const double floor = o.lr > 0 ? o.min_lr / o.lr : 0.0;
  const double span = std::max<int64_t>(1, steps - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  return floor + 0.5 * (1 - floor) * (1 + std::cos(M_PI * progress));
}

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

double clip_gradients(const std::vector<ParamGroup>& groups, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> squares;
  for (const auto& g : groups)
    for (const auto& p : g.params)
      if (p.grad().defined()) squares.push_back(p.grad().to(at::kFloat).pow(2).sum());
  if (squares.empty()) return 0;
  const double norm = std::sqrt(at::stack(squares).sum().item<double>());  // one host sync
  if (max_norm > 0 && norm > max_norm)
    for (const auto& g : groups)
      for (const auto& p : g.params)
        if (p.grad().defined()) p.grad().mul_(max_norm / (norm + 1e-6));
  return norm;
}

at::Tensor expert_load(const std::vector<at::Tensor>& expert_ids, int64_t experts) {
  if (expert_ids.empty()) return {};
  std::vector<at::Tensor> counts;
  for (const auto& ids : expert_ids) counts.push_back(at::bincount(ids.flatten(), {}, experts).to(at::kFloat));
  return at::stack(counts);  // [MoE layers, E]
}

double balance_experts(DeepseekV32& model, at::Tensor load, double rate, Communicator& comm) {
  if (!load.defined()) return 1.0;
  at::NoGradGuard no_grad;
  if (comm.size() > 1) comm.all_reduce_sum(load);
  at::Tensor mean = load.mean(1, true);
  if (rate > 0) {
    at::Tensor step = at::sign(mean - load) * rate;  // [MoE layers, E]: underloaded experts up, overloaded down
    int64_t layer = 0;
    for (auto& item : model->named_buffers())
      if (item.key().find("e_score_correction_bias") != std::string::npos)
        item.value().add_(step[layer++].to(item.value().device()));
  }
  return (load.amax(1, true) / mean.clamp_min(1e-9)).mean().item<double>();
}

std::vector<double> all_reduce_values(const std::vector<double>& values, Communicator& comm, const at::Device& device) {
  at::Tensor t = at::tensor(values, at::kDouble);
  if (comm.size() > 1) {
    t = t.to(device, comm.backend() == "nccl" ? at::kFloat : at::kDouble);
    comm.all_reduce_sum(t);
    t = t.to(at::kCPU, at::kDouble);
  }
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

}  // namespace dsrl
