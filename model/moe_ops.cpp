// The MoE layer's token movement (model/moe_ops.h): the slot grouping on the kernel or the C++ reference, and the two
// row moves as autograd functions whose backward passes are gathers too.
#include "model/moe_ops.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <limits>

#include "common/error.h"
#include "kernels/moe_dispatch.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/moe_combine_cuda.h"
#include "kernels/moe_dispatch_cuda.h"
#endif

namespace dsrl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Token rows copied to their slots' grouped rows; the backward gathers each token's k slot gradients and sums them.
struct DispatchRows : torch::autograd::Function<DispatchRows> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& order,
                            const at::Tensor& rows, int64_t k) {
    ctx->save_for_backward({rows});
    ctx->saved_data["k"] = k;
    return x.index_select(0, order.div(k, "floor"));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor rows = ctx->get_saved_variables()[0];
    const int64_t k = ctx->saved_data["k"].toInt();
    at::Tensor per_slot = grads[0].index_select(0, rows);  // [N * k, D] in slot order
    return {per_slot.view({rows.numel() / k, k, per_slot.size(1)}).sum(1), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Grouped rows put back in slot order: a permutation, so the backward is the inverse permutation.
struct UngroupRows : torch::autograd::Function<UngroupRows> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& ys, const at::Tensor& rows,
                            const at::Tensor& order) {
    ctx->save_for_backward({order});
    return ys.index_select(0, rows);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {grads[0].index_select(0, ctx->get_saved_variables()[0]), at::Tensor(), at::Tensor()};
  }
};

#ifdef DSRL_CUDA
// combine_rows on the kernel in inference mode (the rollout engine's decoding) for bf16 tensors on one GPU; false:
// not taken. Not for every forward without gradient: the trainer's old and reference log-probs must match the
// training forward bit for bit, and the kernel's k-term sums may add in another order than ATen's.
bool combine_on_kernel(const at::Tensor& ys, const at::Tensor& weights, const SlotGroups& groups,
                       const at::Tensor& base, at::Tensor& out) {
  const auto on = ys.device();
  const bool taken = c10::InferenceMode::is_enabled() && ys.is_cuda() && ys.scalar_type() == at::kBFloat16 &&
                     ys.size(1) % 2 == 0 && ys.size(1) > 0 && weights.size(1) > 0 && weights.device() == on &&
                     groups.rows.device() == on &&
                     (!base.defined() || (base.scalar_type() == at::kBFloat16 && base.device() == on));
  if (!taken) return false;
  const at::Tensor y = ys.contiguous(), w = weights.to(at::kFloat).contiguous(), rows = groups.rows.contiguous();
  const at::Tensor b = base.defined() ? base.contiguous() : at::Tensor();
  auto aligned = [](const at::Tensor& t) { return !t.defined() || reinterpret_cast<uintptr_t>(t.data_ptr()) % 4 == 0; };
  if (!aligned(y) || !aligned(b)) return false;  // the kernel reads channel pairs
  const c10::cuda::CUDAGuard device(on);
  out = at::empty({weights.size(0), ys.size(1)}, ys.options());
  auto bf16 = [](const at::Tensor& t) { return reinterpret_cast<const __nv_bfloat16*>(t.data_ptr()); };
  const cudaError_t err = kernels::moe_combine_cuda(
      bf16(y), rows.data_ptr<int64_t>(), w.data_ptr<float>(), b.defined() ? bf16(b) : nullptr,
      reinterpret_cast<__nv_bfloat16*>(out.data_ptr()), weights.size(0), weights.size(1), ys.size(1),
      at::cuda::getCurrentCUDAStream());
  DSRL_CHECK(err == cudaSuccess, "moe_combine_cuda failed: {}", cudaGetErrorString(err));
  return true;
}

bool group_on_kernel(const at::Tensor& flat, int64_t experts, SlotGroups& g) {
  if (experts > kernels::kMoeDispatchMaxExperts) return false;
  const c10::cuda::CUDAGuard device(flat.device());
  cudaError_t err = kernels::moe_dispatch_cuda(flat.data_ptr<int64_t>(), flat.numel(), experts,
                                               g.order.data_ptr<int64_t>(), g.rows.data_ptr<int64_t>(),
                                               g.ends.data_ptr<int32_t>(), at::cuda::getCurrentCUDAStream());
  DSRL_CHECK(err == cudaSuccess, "moe_dispatch_cuda failed: {}", cudaGetErrorString(err));
  return true;
}
#endif

// A stable sort by expert: the CUDA path past the kernel's expert count.
void group_by_sort(const at::Tensor& ids, int64_t experts, SlotGroups& g) {
  const at::Tensor flat = ids.clamp(0, experts - 1);  // as the kernel does
  g.order = flat.argsort(/*stable=*/true);
  g.rows = at::empty_like(g.order).scatter_(0, g.order, at::arange(flat.numel(), flat.options()));
  g.ends = at::zeros({experts}, flat.options()).scatter_add_(0, flat, at::ones_like(flat)).cumsum(0).to(at::kInt);
}

}  // namespace

SlotGroups group_slots(const at::Tensor& ids, int64_t experts) {
  DSRL_CHECK(ids.dim() == 2 && ids.scalar_type() == at::kLong, "group_slots: expected ids [N, k] int64, got [{}] {}",
             fmt::join(ids.sizes(), ", "), c10::toString(ids.scalar_type()));
  DSRL_CHECK(experts >= 1 && ids.numel() < std::numeric_limits<int32_t>::max(),
             "group_slots: {} experts and {} slots (expected at least one expert and fewer than 2^31 slots)", experts,
             ids.numel());
  const at::Tensor flat = ids.flatten().contiguous();
  const int64_t slots = flat.numel();
  SlotGroups g{at::empty({slots}, flat.options()), at::empty({slots}, flat.options()),
               at::empty({experts}, flat.options().dtype(at::kInt))};
  if (flat.is_cuda()) {
#ifdef DSRL_CUDA
    if (!group_on_kernel(flat, experts, g)) group_by_sort(flat, experts, g);
    return g;
#else
    DSRL_FAIL("group_slots: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)");
#endif
  }
  const int64_t* id = flat.data_ptr<int64_t>();
  for (int64_t s = 0; s < slots; ++s)
    DSRL_CHECK(id[s] >= 0 && id[s] < experts, "group_slots: slot {} (token {}, choice {}) names expert {}, outside "
               "[0, {})", s, s / ids.size(1), s % ids.size(1), id[s], experts);
  kernels::moe_dispatch_reference(id, slots, experts, g.order.data_ptr<int64_t>(), g.rows.data_ptr<int64_t>(),
                                  g.ends.data_ptr<int32_t>());
  return g;
}

at::Tensor dispatch_rows(const at::Tensor& x, const SlotGroups& groups, int64_t k) {
  DSRL_CHECK(x.dim() == 2 && k >= 1 && x.size(0) * k == groups.rows.numel(),
             "dispatch_rows: expected x [N, D] with N * {} = {} slots, got [{}]", k, groups.rows.numel(),
             fmt::join(x.sizes(), ", "));
  return DispatchRows::apply(x, groups.order, groups.rows, k);
}

at::Tensor combine_rows(const at::Tensor& ys, const at::Tensor& weights, const SlotGroups& groups,
                        const at::Tensor& base) {
  DSRL_CHECK(ys.dim() == 2 && weights.dim() == 2 && ys.size(0) == weights.numel() &&
                 ys.size(0) == groups.rows.numel(),
             "combine_rows: expected ys [N * k, D] and weights [N, k] over {} slots, got [{}] and [{}]",
             groups.rows.numel(), fmt::join(ys.sizes(), ", "), fmt::join(weights.sizes(), ", "));
  DSRL_CHECK(!base.defined() || (base.dim() == 2 && base.size(0) == weights.size(0) && base.size(1) == ys.size(1)),
             "combine_rows: expected base [{}, {}], got [{}]", weights.size(0), ys.size(1),
             fmt::join(base.sizes(), ", "));
  const int64_t N = weights.size(0), k = weights.size(1), D = ys.size(1);
#ifdef DSRL_CUDA
  at::Tensor fused;
  if (combine_on_kernel(ys, weights, groups, base, fused)) return fused;
#endif
  at::Tensor per_slot = UngroupRows::apply(ys, groups.rows, groups.order).view({N, k, D});
  // A product and a sum over k: at::bmm of [N, 1, k] x [N, k, D] measured 0.6 ms a call at N = 8192, k = 4,
  // D = 1024 on the H100 (cuBLAS has no good shape for it), the two elementwise kernels a small part of that.
  at::Tensor out = (per_slot * weights.to(ys.scalar_type()).unsqueeze(-1)).sum(1);
  return base.defined() ? out + base : out;
}

}  // namespace dsrl
