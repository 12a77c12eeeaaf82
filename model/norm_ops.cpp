// The RMSNorm layer's fused op (model/norm_ops.h): wrappers that check their tensors, then run the CUDA kernels
// (bf16) or the C++ references (fp32 on the CPU), and the autograd function over them.
#include "model/norm_ops.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"
#include "kernels/rmsnorm.h"
#include "model/kernel_ops.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/rmsnorm_cuda.h"
#include "model/kernel_tensors.h"
#endif

namespace dsrl {
namespace {

bool reference_applies(const at::Tensor& x, const at::Tensor& weight) {
  return !x.is_cuda() && !weight.is_cuda() && x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat;
}

void check_shapes(const char* fn, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& dy) {
  DSRL_CHECK(x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1) && x.size(-1) > 0,
             "{}: expected x [..., D] and weight [D] with D >= 1, got [{}] and [{}]", fn, fmt::join(x.sizes(), ", "),
             fmt::join(weight.sizes(), ", "));
  DSRL_CHECK(dy.sizes() == x.sizes() && dy.scalar_type() == x.scalar_type() && dy.device() == x.device(),
             "{}: dy must match x ([{}] {} on {}), got [{}] {} on {}", fn, fmt::join(x.sizes(), ", "),
             c10::toString(x.scalar_type()), x.device().str(), fmt::join(dy.sizes(), ", "),
             c10::toString(dy.scalar_type()), dy.device().str());
  DSRL_CHECK(rms_norm_kernel_applies(x, weight) || reference_applies(x, weight),
             "{}: expected bf16 CUDA tensors with an even last dim up to 8192 (the kernels) or fp32 CPU tensors (the "
             "references), got x {} on {} and weight {} on {}", fn, c10::toString(x.scalar_type()), x.device().str(),
             c10::toString(weight.scalar_type()), weight.device().str());
}

#ifdef DSRL_CUDA
// Contiguous, starting on a 4-byte boundary: the kernels read bf16 pairs.
at::Tensor pair_aligned(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return reinterpret_cast<uintptr_t>(c.data_ptr()) % 4 == 0 ? c : c.clone();
}

at::Tensor forward_cuda(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const c10::cuda::CUDAGuard device(x.device());
  at::Tensor xc = pair_aligned(x), wc = pair_aligned(weight);
  at::Tensor y = at::empty_like(xc);
  const int64_t dim = x.size(-1);
  cudaError_t err = kernels::rms_norm_bf16_cuda(kernel_tensors::bf16_ptr(xc), kernel_tensors::bf16_ptr(wc),
                                                kernel_tensors::bf16_mut_ptr(y), xc.numel() / dim, dim,
                                                static_cast<float>(eps), at::cuda::getCurrentCUDAStream());
  DSRL_CHECK(err == cudaSuccess, "rms_norm_bf16_cuda failed: {}", cudaGetErrorString(err));
  return y;
}

std::pair<at::Tensor, at::Tensor> backward_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& dy,
                                                double eps) {
  const c10::cuda::CUDAGuard device(x.device());
  at::Tensor xc = pair_aligned(x), wc = pair_aligned(weight), dyc = pair_aligned(dy);
  const int64_t dim = x.size(-1), rows = xc.numel() / dim;
  at::Tensor dx = at::empty_like(xc);
  at::Tensor parts = at::empty({kernels::rms_norm_backward_parts(rows), dim}, x.options().dtype(at::kFloat));
  cudaError_t err = kernels::rms_norm_bf16_backward_cuda(
      kernel_tensors::bf16_ptr(xc), kernel_tensors::bf16_ptr(wc), kernel_tensors::bf16_ptr(dyc),
      kernel_tensors::bf16_mut_ptr(dx), parts.data_ptr<float>(), rows, dim, static_cast<float>(eps),
      at::cuda::getCurrentCUDAStream());
  DSRL_CHECK(err == cudaSuccess, "rms_norm_bf16_backward_cuda failed: {}", cudaGetErrorString(err));
  return {dx, parts.sum(0).to(weight.scalar_type())};
}
#endif

at::Tensor forward(const at::Tensor& x, const at::Tensor& weight, double eps) {
#ifdef DSRL_CUDA
  if (x.is_cuda()) return forward_cuda(x, weight, eps);
#endif
  return rms_norm(x, weight, eps);  // fp32 CPU: the C++ reference (model/kernel_ops.h)
}

struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            double eps) {
    const at::Tensor xc = x.contiguous();  // saved as the kernels read it: a strided x is copied once, not twice
    ctx->save_for_backward({xc, weight});
    ctx->saved_data["eps"] = eps;
    return dsrl::forward(xc, weight, eps);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const double eps = ctx->saved_data["eps"].toDouble();
    auto [dx, dweight] = rms_norm_backward(saved[0], saved[1], grads[0].contiguous(), eps);
    return {dx, dweight, at::Tensor()};
  }
};

}  // namespace

at::Tensor rms_norm_eager(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return weight * normed.to(x.scalar_type());
}

std::pair<at::Tensor, at::Tensor> rms_norm_backward(const at::Tensor& x, const at::Tensor& weight,
                                                    const at::Tensor& dy, double eps) {
  check_shapes("rms_norm_backward", x, weight, dy);
#ifdef DSRL_CUDA
  if (x.is_cuda()) return backward_cuda(x, weight, dy, eps);
#endif
  at::Tensor xc = x.contiguous(), wc = weight.contiguous(), dyc = dy.contiguous();
  at::Tensor dx = at::empty_like(xc), dweight = at::empty_like(wc);
  const int64_t dim = x.size(-1);
  kernels::rms_norm_backward_reference(xc.data_ptr<float>(), wc.data_ptr<float>(), dyc.data_ptr<float>(),
                                       dx.data_ptr<float>(), dweight.data_ptr<float>(), xc.numel() / dim, dim,
                                       static_cast<float>(eps));
  return {dx, dweight};
}

at::Tensor rms_norm_fused(const at::Tensor& x, const at::Tensor& weight, double eps) {
  check_shapes("rms_norm_fused", x, weight, x);
  if (!at::GradMode::is_enabled() || (!x.requires_grad() && !weight.requires_grad())) return forward(x, weight, eps);
  return RmsNormFunction::apply(x, weight, eps);
}

at::Tensor rms_norm_layer(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return rms_norm_kernel_applies(x, weight) ? rms_norm_fused(x, weight, eps) : rms_norm_eager(x, weight, eps);
}

bool rms_norm_kernel_applies(const at::Tensor& x, const at::Tensor& weight) {
#ifdef DSRL_CUDA
  const int64_t dim = x.dim() >= 1 ? x.size(-1) : 0;
  return x.is_cuda() && weight.device() == x.device() && x.scalar_type() == at::kBFloat16 &&
         weight.scalar_type() == at::kBFloat16 && weight.dim() == 1 && weight.size(0) == dim && dim > 0 &&
         dim % 2 == 0 && dim <= kernels::kRmsNormMaxDim;
#else
  (void)x;
  (void)weight;
  return false;
#endif
}

}  // namespace dsrl
