// Mixture of experts: a sigmoid router with aux-loss-free correction bias and group-limited top-k, routed SwiGLU
// experts stored as stacked weights [E, ...] (per-expert HF names map onto slices), and shared experts.
#pragma once

#include <torch/nn/module.h>

#include "model/layers.h"

namespace dsrl {

struct Routing {
  at::Tensor ids;      // [N, k] int64 expert ids, best first (or as replayed)
  at::Tensor weights;  // [N, k] fp32: normalised sigmoid scores * routed_scaling_factor
  at::Tensor scores;   // [N, E] fp32 sigmoid affinities of every expert (with gradient to the router)
  at::Tensor mismatch; // [N] bool when replaying: the router's own top-k set differs from the replayed one
};

// What an MoE layer reports besides its output, each only when asked for.
struct MoETraces {
  bool want_ids = false, want_balance = false, want_mismatch = false;
  at::Tensor ids;       // [B, S, k] the expert ids used
  at::Tensor balance;   // [B] the sequence-wise balance term (sequence_balance)
  at::Tensor mismatch;  // [B, S] bool, when replaying: the router would have chosen other experts
};

class RouterImpl : public torch::nn::Module {
 public:
  explicit RouterImpl(const ModelConfig& config);
  // x: [N, D]. replay_ids: [N, k] recorded ids (keep routing) or undefined to choose.
  Routing forward(const at::Tensor& x, const at::Tensor& replay_ids);
  at::Tensor weight;                   // [E, D] fp32
  at::Tensor e_score_correction_bias;  // [E] fp32 buffer; balances load, updated outside the gradient

 private:
  at::Tensor choose(const at::Tensor& scores) const;  // [N, E] -> [N, k]
  int64_t experts_, top_k_, groups_, topk_groups_;
  bool normalise_;
  double scaling_;
};
TORCH_MODULE(Router);

// E SwiGLU experts as stacked weights; HF stores experts.{e}.gate_proj.weight = gate_proj[e].
class ExpertsImpl : public torch::nn::Module {
 public:
  ExpertsImpl(int64_t experts, int64_t hidden, int64_t intermediate);
  // x: [N, D], routing for those N tokens -> [N, D] sum of weighted expert outputs. Rows move by gathers
  // (model/moe_ops.h). On CUDA in bf16 one grouped GEMM per projection (at::_grouped_mm, no host sync); elsewhere a
  // loop over the experts that have tokens.
  at::Tensor forward(const at::Tensor& x, const Routing& routing, const at::Tensor& base = at::Tensor());
  at::Tensor gate_proj, up_proj;  // [E, I, D]
  at::Tensor down_proj;           // [E, D, I]
  bool allow_grouped_gemm = true;  // false forces the loop (tests compare the two)

 private:
  // xs: [M, D] token rows grouped by expert, ends: [E] int32 one past each expert's last row -> [M, D] unweighted
  // expert outputs
  at::Tensor grouped(const at::Tensor& xs, const at::Tensor& ends);
  at::Tensor looped(const at::Tensor& xs, const at::Tensor& ends);
};
TORCH_MODULE(Experts);

class MoEImpl : public torch::nn::Module {
 public:
  explicit MoEImpl(const ModelConfig& config);
  // x: [B, S, D]; replay_ids [B, S, k] or undefined; traces (optional) receives what it asks for.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& replay_ids, MoETraces* traces = nullptr);
  Router gate{nullptr};
  Experts experts{nullptr};
  MLP shared_experts{nullptr};  // absent when n_shared_experts == 0
};
TORCH_MODULE(MoE);

// DeepSeek-V3's complementary sequence-wise balance term, per sequence: sum_i f_i P_i with
// f_i = E / (k S) * (tokens of the sequence routed to expert i) and P_i = mean over the sequence of
// s_i / sum_j s_j (normalised affinities). 1 when the load is even; the gradient reaches the router through P.
// scores: [B, S, E] sigmoid affinities, ids: [B, S, k] -> [B]
at::Tensor sequence_balance(const at::Tensor& scores, const at::Tensor& ids);

}  // namespace dsrl
