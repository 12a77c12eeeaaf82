#include "trainer/adamw.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <map>
#include <tuple>

#include "common/error.h"

namespace dsrl {

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options) : groups_(std::move(groups)), options_(options) {
  for (const auto& g : groups_) {
    for (const auto& p : g.params) {
      DSRL_CHECK(p.requires_grad(), "AdamW group {}: a parameter does not require grad", g.name);
      exp_avg_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
      exp_avg_sq_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
      steps_.push_back(at::zeros({}, p.options().dtype(at::kFloat)));
    }
  }
}

void AdamW::step() {
  at::NoGradGuard no_grad;
  size_t offset = 0;  // index of the group's first parameter in the flat state
  for (const auto& g : groups_) {
    // The fused kernel wants one device and dtype per call: bucket the group's parameters (by index).
    std::map<std::tuple<int, int, int>, std::vector<size_t>> buckets;
    for (size_t i = 0; i < g.params.size(); ++i) {
      const at::Tensor& p = g.params[i];
      if (!p.grad().defined()) continue;
      buckets[{static_cast<int>(p.device().type()), p.device().index(), static_cast<int>(p.scalar_type())}]
          .push_back(i);
    }
    for (const auto& [key, members] : buckets) {
      std::vector<at::Tensor> params, grads, m, v, steps;
      for (size_t i : members) {
        const at::Tensor& p = g.params[i];
        const size_t k = offset + i;
        params.push_back(p);
        grads.push_back(p.grad());
        m.push_back(exp_avg_[k]);
        v.push_back(exp_avg_sq_[k]);
        steps.push_back(steps_[k]);
      }
      at::_foreach_add_(steps, 1.0);  // the kernel reads the step count of this update (bias correction)
      at::_fused_adamw_(params, grads, m, v, {}, steps, g.lr, options_.beta1, options_.beta2, g.weight_decay,
                        options_.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
    offset += g.params.size();
  }
}

void AdamW::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.mutable_grad() = at::Tensor();
}

}  // namespace dsrl
