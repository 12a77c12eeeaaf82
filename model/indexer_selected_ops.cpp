// The indexer's scores over the selected keys (kernels/indexer_selected.h): checked wrappers of the CUDA kernels
// and C++ references, and the autograd op sparse training's KL runs through.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <limits>

#include "common/error.h"
#include "kernels/indexer_selected.h"
#include "model/kernel_ops.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/indexer_selected_cuda.h"
#endif
#include "model/kernel_tensors.h"

namespace dsrl {
namespace {

kernels::SelectedScoresShape checked_shape(const char* fn, const at::Tensor& q, const at::Tensor& w,
                                           const at::Tensor& keys, const at::Tensor& sel) {
  DSRL_CHECK(q.dim() == 3 && w.dim() == 2 && keys.dim() == 2 && sel.dim() == 2,
             "{}: expected q [N, H, D], w [N, H], keys [T, D], sel [N, K], got [{}], [{}], [{}], [{}]", fn,
             fmt::join(q.sizes(), ", "), fmt::join(w.sizes(), ", "), fmt::join(keys.sizes(), ", "),
             fmt::join(sel.sizes(), ", "));
  DSRL_CHECK(w.size(0) == q.size(0) && w.size(1) == q.size(1) && sel.size(0) == q.size(0),
             "{}: w [{}] and sel [{}] must match q's {} queries x {} heads", fn, fmt::join(w.sizes(), ", "),
             fmt::join(sel.sizes(), ", "), q.size(0), q.size(1));
  DSRL_CHECK(keys.size(1) == q.size(2), "{}: keys have {} channels but q has {}", fn, keys.size(1), q.size(2));
  DSRL_CHECK(sel.scalar_type() == at::kInt || sel.scalar_type() == at::kLong, "{}: sel must be int32 or int64, got {}",
             fn, c10::toString(sel.scalar_type()));
  DSRL_CHECK(w.scalar_type() == at::kFloat, "{}: w must be fp32, got {}", fn, c10::toString(w.scalar_type()));
  DSRL_CHECK(q.device() == w.device() && q.device() == keys.device() && q.device() == sel.device(),
             "{}: q on {}, w on {}, keys on {}, sel on {}", fn, q.device().str(), w.device().str(),
             keys.device().str(), sel.device().str());
  DSRL_CHECK(keys.size(0) <= std::numeric_limits<int32_t>::max(), "{}: {} key rows exceed int32", fn, keys.size(0));
  return {q.size(0), q.size(1), q.size(2), keys.size(0), sel.size(1)};
}

#ifdef DSRL_CUDA
void check_cuda(const char* fn, const at::Tensor& q, const at::Tensor& keys) {
  DSRL_CHECK(selected_scores_kernel_applies(q) && keys.scalar_type() == at::kBFloat16,
             "{}: the CUDA kernels take bf16 q and keys with 8, 16, 32 or 64 heads of 64 or 128 channels; got {} q, "
             "{} keys, {} heads of {}", fn, c10::toString(q.scalar_type()), c10::toString(keys.scalar_type()),
             q.size(1), q.size(2));
}
#endif

[[noreturn]] void no_cuda(const char* fn) {
  DSRL_FAIL("{}: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)", fn);
}

at::Tensor float_contiguous(const at::Tensor& t) { return t.to(at::kFloat).contiguous(); }

}  // namespace

at::Tensor selected_scores_forward(const at::Tensor& q, const at::Tensor& w, const at::Tensor& keys,
                                   const at::Tensor& sel) {
  const kernels::SelectedScoresShape shape = checked_shape("selected_scores_forward", q, w, keys, sel);
  at::Tensor rows = kernel_tensors::int32_rows(sel, shape.n_keys);
  at::Tensor scores = at::empty({shape.queries, shape.topk}, w.options());
  if (q.is_cuda()) {
#ifdef DSRL_CUDA
    check_cuda("selected_scores_forward", q, keys);
    const c10::cuda::CUDAGuard device(q.device());
    at::Tensor qc = kernel_tensors::aligned_contiguous(q), kc = kernel_tensors::aligned_contiguous(keys);
    cudaError_t err = kernels::selected_scores_cuda(kernel_tensors::bf16_ptr(qc), w.contiguous().data_ptr<float>(),
                                                    kernel_tensors::bf16_ptr(kc), rows.data_ptr<int32_t>(),
                                                    scores.data_ptr<float>(), shape, at::cuda::getCurrentCUDAStream());
    DSRL_CHECK(err == cudaSuccess, "selected_scores_cuda failed: {}", cudaGetErrorString(err));
    return scores;
#else
    no_cuda("selected_scores_forward");
#endif
  }
  kernels::selected_scores_reference(float_contiguous(q).data_ptr<float>(), float_contiguous(w).data_ptr<float>(),
                                     float_contiguous(keys).data_ptr<float>(), rows.data_ptr<int32_t>(),
                                     scores.data_ptr<float>(), shape);
  return scores;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> selected_scores_backward(const at::Tensor& q, const at::Tensor& w,
                                                                        const at::Tensor& keys, const at::Tensor& sel,
                                                                        const at::Tensor& dscores) {
  const kernels::SelectedScoresShape shape = checked_shape("selected_scores_backward", q, w, keys, sel);
  DSRL_CHECK(dscores.sizes() == sel.sizes(), "selected_scores_backward: dscores must be [{}], got [{}]",
             fmt::join(sel.sizes(), ", "), fmt::join(dscores.sizes(), ", "));
  at::Tensor rows = kernel_tensors::int32_rows(sel, shape.n_keys);
  at::Tensor g = float_contiguous(dscores.to(q.device()));
  at::Tensor dw = at::empty({shape.queries, shape.heads}, w.options());
  at::Tensor dkeys = at::empty({shape.n_keys, shape.dim}, w.options());
  if (q.is_cuda()) {
#ifdef DSRL_CUDA
    check_cuda("selected_scores_backward", q, keys);
    const c10::cuda::CUDAGuard device(q.device());
    at::Tensor qc = kernel_tensors::aligned_contiguous(q), kc = kernel_tensors::aligned_contiguous(keys);
    at::Tensor dq = at::empty_like(qc);
    cudaError_t err = kernels::selected_scores_backward_cuda(
        kernel_tensors::bf16_ptr(qc), w.contiguous().data_ptr<float>(), kernel_tensors::bf16_ptr(kc),
        rows.data_ptr<int32_t>(), g.data_ptr<float>(), kernel_tensors::bf16_mut_ptr(dq), dw.data_ptr<float>(),
        dkeys.data_ptr<float>(), shape, at::cuda::getCurrentCUDAStream());
    DSRL_CHECK(err == cudaSuccess, "selected_scores_backward_cuda failed: {}", cudaGetErrorString(err));
    return {dq, dw, dkeys.to(keys.scalar_type())};
#else
    no_cuda("selected_scores_backward");
#endif
  }
  at::Tensor dq = at::empty({shape.queries, shape.heads, shape.dim}, w.options());
  kernels::selected_scores_backward_reference(float_contiguous(q).data_ptr<float>(),
                                              float_contiguous(w).data_ptr<float>(),
                                              float_contiguous(keys).data_ptr<float>(), rows.data_ptr<int32_t>(),
                                              g.data_ptr<float>(), dq.data_ptr<float>(), dw.data_ptr<float>(),
                                              dkeys.data_ptr<float>(), shape);
  return {dq.to(q.scalar_type()), dw, dkeys.to(keys.scalar_type())};
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct SelectedScoresFunction : torch::autograd::Function<SelectedScoresFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& w, const at::Tensor& keys,
                            const at::Tensor& sel) {
    ctx->save_for_backward({q, w, keys, sel});
    return selected_scores_forward(q, w, keys, sel);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    auto [dq, dw, dkeys] = selected_scores_backward(saved[0], saved[1], saved[2], saved[3], grads[0]);
    return {dq, dw, dkeys, at::Tensor()};
  }
};

}  // namespace

at::Tensor indexer_selected_scores(const at::Tensor& q, const at::Tensor& w, const at::Tensor& keys,
                                   const at::Tensor& sel) {
  return SelectedScoresFunction::apply(q, w, keys, sel);
}

bool selected_scores_kernel_applies(const at::Tensor& q) {
#ifdef DSRL_CUDA
  return q.is_cuda() && q.scalar_type() == at::kBFloat16 && q.dim() >= 2 &&
         kernels::selected_scores_cuda_supports(q.size(-2), q.size(-1));
#else
  (void)q;
  return false;
#endif
}

}  // namespace dsrl
