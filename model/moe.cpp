#include "model/moe.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <tuple>

#include "model/moe_ops.h"
#include "model/router_ops.h"

namespace dsrl {

RouterImpl::RouterImpl(const ModelConfig& c)
    : experts_(c.n_routed_experts), top_k_(c.num_experts_per_tok), groups_(c.n_group), topk_groups_(c.topk_group),
      normalise_(c.norm_topk_prob), scaling_(c.routed_scaling_factor) {
  weight = register_parameter("weight", at::zeros({experts_, c.hidden_size}));
  e_score_correction_bias = register_buffer("e_score_correction_bias", at::zeros({experts_}));
}

at::Tensor RouterImpl::choose(const at::Tensor& scores) const {
  if (route_kernel_applies(scores, experts_, groups_, topk_groups_, top_k_))  // one kernel for the ATen ops below
    return route_topk(scores, e_score_correction_bias, groups_, topk_groups_, top_k_);
  const int64_t N = scores.size(0);
  at::Tensor biased = scores + e_score_correction_bias;                   // [N, E]
  at::Tensor grouped = biased.view({N, groups_, experts_ / groups_});     // [N, G, E/G]
  at::Tensor group_scores = std::get<0>(grouped.topk(2, -1)).sum(-1);     // [N, G] sum of each group's best two
  at::Tensor kept = std::get<1>(group_scores.topk(topk_groups_, -1));     // [N, topk_group]
  at::Tensor group_ok = at::zeros_like(group_scores, at::kBool).scatter_(1, kept, true);
  at::Tensor expert_ok = group_ok.unsqueeze(-1).expand_as(grouped).reshape({N, experts_});
  at::Tensor candidates = biased.masked_fill(expert_ok.logical_not(), -INFINITY);  // excluded groups at -inf
  return std::get<1>(candidates.topk(top_k_, -1));                        // [N, k] best first
}

Routing RouterImpl::forward(const at::Tensor& x, const at::Tensor& replay_ids) {
  at::Tensor scores = at::sigmoid(at::linear(x.to(at::kFloat), weight.to(at::kFloat)));  // [N, E] fp32
  Routing r;
  r.scores = scores;
  // In inference mode on the GPU (the rollout engine's decoding): the expert choice and the gate weights in one
  // kernel. Otherwise the ATen weights below, which carry the gradient to the router; a forward without gradient
  // outside inference mode (the trainer's old and reference log-probs) must match the training forward bit for bit,
  // and the kernel sums the k weights in another order.
  if (c10::InferenceMode::is_enabled() && !replay_ids.defined() &&
      route_kernel_applies(scores, experts_, groups_, topk_groups_, top_k_)) {
    std::tie(r.ids, r.weights) =
        route_topk_weighted(scores, e_score_correction_bias, groups_, topk_groups_, top_k_, normalise_, scaling_);
    return r;
  }
  if (replay_ids.defined()) {
    TORCH_CHECK(replay_ids.dim() == 2 && replay_ids.size(0) == x.size(0) && replay_ids.size(1) == top_k_,
                "replayed expert ids must be [", x.size(0), ", ", top_k_, "], got ", replay_ids.sizes());
    TORCH_CHECK(replay_ids.numel() == 0 || (replay_ids.min().item<int64_t>() >= 0 &&
                                            replay_ids.max().item<int64_t>() < experts_),
                "replayed expert ids must be in [0, ", experts_, ")");
    r.ids = replay_ids.to(at::kLong);
    at::NoGradGuard no_grad;
    const at::Tensor own = std::get<0>(choose(scores.detach()).sort(-1));
    r.mismatch = (own != std::get<0>(r.ids.sort(-1))).any(-1);
  } else {
    at::NoGradGuard no_grad;
    r.ids = choose(scores.detach());
  }
  r.weights = scores.gather(1, r.ids);  // unbiased scores of the chosen experts: the gradient path to the router
  if (normalise_) r.weights = r.weights / (r.weights.sum(-1, true) + 1e-20);
  r.weights = r.weights * scaling_;
  return r;
}

ExpertsImpl::ExpertsImpl(int64_t experts, int64_t hidden, int64_t intermediate) {
  gate_proj = register_parameter("gate_proj", at::empty({experts, intermediate, hidden}));
  up_proj = register_parameter("up_proj", at::empty({experts, intermediate, hidden}));
  down_proj = register_parameter("down_proj", at::empty({experts, hidden, intermediate}));
}

at::Tensor ExpertsImpl::forward(const at::Tensor& x, const Routing& routing, const at::Tensor& base) {
  const int64_t k = routing.ids.size(1), E = gate_proj.size(0);
  const SlotGroups groups = group_slots(routing.ids, E);
  at::Tensor xs = dispatch_rows(x, groups, k);  // [N * k, D] grouped by expert
  const bool grouped_ok = allow_grouped_gemm && x.is_cuda() && x.scalar_type() == at::kBFloat16;
  at::Tensor ys = grouped_ok ? grouped(xs, groups.ends) : looped(xs, groups.ends);  // [N * k, D]
  return combine_rows(ys, routing.weights, groups, base);
}

at::Tensor ExpertsImpl::grouped(const at::Tensor& xs, const at::Tensor& ends) {
  auto mm = [&](const at::Tensor& a, const at::Tensor& weight) {  // weight [E, out, in] -> a @ weight[e]^T per group
    return at::_grouped_mm(a, weight.transpose(1, 2), ends);
  };
  return mm(at::silu(mm(xs, gate_proj)) * mm(xs, up_proj), down_proj);
}

at::Tensor ExpertsImpl::looped(const at::Tensor& xs, const at::Tensor& ends) {
  // unbind once: its backward stacks the per-expert gradients into one tensor, where indexing per expert would
  // build a full-size zero gradient for every expert used.
  const std::vector<at::Tensor> gate = gate_proj.unbind(0), up = up_proj.unbind(0), down = down_proj.unbind(0);
  const at::Tensor host_ends = ends.cpu();
  const int32_t* end = host_ends.data_ptr<int32_t>();
  std::vector<at::Tensor> parts;
  int64_t start = 0;
  for (size_t e = 0; e < gate.size(); ++e) {
    const int64_t count = end[e] - start;
    if (count == 0) continue;
    at::Tensor xe = xs.narrow(0, start, count);                                   // [n_e, D]
    at::Tensor h = at::silu(at::linear(xe, gate[e])) * at::linear(xe, up[e]);      // [n_e, I]
    parts.push_back(at::linear(h, down[e]));                                       // [n_e, D]
    start = end[e];
  }
  return parts.empty() ? at::zeros_like(xs) : at::cat(parts);
}

MoEImpl::MoEImpl(const ModelConfig& c) {
  gate = register_module("gate", Router(c));
  experts = register_module("experts", Experts(c.n_routed_experts, c.hidden_size, c.moe_intermediate_size));
  if (c.n_shared_experts > 0)
    shared_experts = register_module("shared_experts",
                                     MLP(c.hidden_size, static_cast<int64_t>(c.moe_intermediate_size) * c.n_shared_experts));
}

at::Tensor sequence_balance(const at::Tensor& scores, const at::Tensor& ids) {
  const int64_t E = scores.size(-1), S = scores.size(1), k = ids.size(-1);
  at::Tensor routed = at::zeros_like(scores).scatter_add_(-1, ids, at::ones_like(ids, scores.options()));  // [B, S, E]
  at::Tensor f = routed.sum(1) * (static_cast<double>(E) / (k * S));                                        // [B, E]
  at::Tensor p = (scores / scores.sum(-1, true)).mean(1);                                                   // [B, E]
  return (f * p).sum(-1);                                                                                   // [B]
}

at::Tensor MoEImpl::forward(const at::Tensor& x, const at::Tensor& replay_ids, MoETraces* traces) {
  const int64_t B = x.size(0), S = x.size(1), D = x.size(2);
  at::Tensor flat = x.reshape({B * S, D});
  at::Tensor replay = replay_ids.defined() ? replay_ids.reshape({B * S, -1}) : at::Tensor();
  Routing routing = gate(flat, replay);
  if (traces && traces->want_ids) traces->ids = routing.ids.view({B, S, -1});
  if (traces && traces->want_balance)
    traces->balance = sequence_balance(routing.scores.view({B, S, -1}), routing.ids.view({B, S, -1}));
  if (traces && traces->want_mismatch && routing.mismatch.defined()) traces->mismatch = routing.mismatch.view({B, S});
  // The shared experts' output is the base the routed ones are added to (one kernel at inference on a GPU).
  const at::Tensor shared = shared_experts ? shared_experts(x).reshape({B * S, D}) : at::Tensor();
  return experts(flat, routing, shared).view({B, S, D});
}

}  // namespace dsrl
