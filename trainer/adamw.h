// AdamW over parameter groups, one fused ATen kernel (at::_fused_adamw_) per group and dtype: the update
// p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p) with bias-corrected moments, as torch.optim.AdamW.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace dsrl {

struct AdamWOptions {
  double beta1 = 0.9;    // first-moment decay
  double beta2 = 0.95;   // second-moment decay
  double eps = 1e-8;     // added to sqrt(v_hat)
};

struct ParamGroup {
  std::string name;                // for logs: "decay", "no_decay", "indexer", ...
  std::vector<at::Tensor> params;  // leaf tensors with requires_grad
  double lr = 1e-4;                // learning rate (a schedule may change it between steps)
  double weight_decay = 0.0;       // decoupled weight decay
};

class AdamW {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});
  // One update of every parameter that has a gradient (others keep their state untouched).
  void step();
  void zero_grad();
  std::vector<ParamGroup>& groups() { return groups_; }
  // Moment estimates and step counts, per parameter in group order (for checkpoints).
  std::vector<at::Tensor>& exp_avg() { return exp_avg_; }
  std::vector<at::Tensor>& exp_avg_sq() { return exp_avg_sq_; }
  std::vector<at::Tensor>& steps() { return steps_; }

 private:
  std::vector<ParamGroup> groups_;
  AdamWOptions options_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_, steps_;  // flat over groups
};

}  // namespace dsrl
