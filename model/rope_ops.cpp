// The fused RoPE op (model/rope_ops.h): the eager definition, the kernel wrapper and the autograd function.
#include "model/rope_ops.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/rope_cuda.h"
#include "model/kernel_tensors.h"
#endif

namespace dsrl {
namespace {

#ifdef DSRL_CUDA
// x [B, S, (H,) R] (last dim contiguous) -> out contiguous, rotated forward or back.
at::Tensor rotate_cuda(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout,
                       bool inverse) {
  const c10::cuda::CUDAGuard device(x.device());
  // Rows are (b, s) and need one stride: S = 1 (decoding) has B's, B = 1 or a contiguous [B, S] prefix has S's.
  const auto row_stride = [](const at::Tensor& t) -> int64_t {
    if (t.size(1) == 1) return t.stride(0);
    return t.size(0) == 1 || t.stride(0) == t.size(1) * t.stride(1) ? t.stride(1) : -1;
  };
  const at::Tensor xs = row_stride(x) >= 0 ? x : x.contiguous();
  const at::Tensor c = cos.contiguous(), s = sin.contiguous();
  const bool heads = x.dim() == 4;
  at::Tensor out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  cudaError_t err = kernels::rope_bf16_cuda(
      kernel_tensors::bf16_ptr(xs), row_stride(xs), heads ? xs.stride(2) : 0, c.data_ptr<float>(), s.data_ptr<float>(),
      kernel_tensors::bf16_mut_ptr(out), x.size(0) * x.size(1), heads ? x.size(2) : 1, x.size(-1),
      layout == RopeLayout::kInterleaved, inverse, at::cuda::getCurrentCUDAStream());
  DSRL_CHECK(err == cudaSuccess, "rope_bf16_cuda failed: {}", cudaGetErrorString(err));
  return out;
}
#endif

at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout,
                  bool inverse) {
#ifdef DSRL_CUDA
  return rotate_cuda(x, cos, sin, layout, inverse);
#else
  (void)x, (void)cos, (void)sin, (void)layout, (void)inverse;
  DSRL_CHECK(false, "rope_fused: this build has no CUDA kernels");
  return {};
#endif
}

struct RopeFunction : torch::autograd::Function<RopeFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos,
                            const at::Tensor& sin, int64_t layout) {
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["layout"] = layout;
    return rotate(x, cos, sin, static_cast<RopeLayout>(layout), false);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto layout = static_cast<RopeLayout>(ctx->saved_data["layout"].toInt());
    at::Tensor g = grads[0];
    if (g.stride(-1) != 1) g = g.contiguous();
    return {rotate(g, saved[0], saved[1], layout, true), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor rope_eager(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout) {
  at::Tensor c = (x.dim() == 4 ? cos.unsqueeze(2) : cos).to(x.scalar_type());
  at::Tensor s = (x.dim() == 4 ? sin.unsqueeze(2) : sin).to(x.scalar_type());
  if (layout == RopeLayout::kHalf) {
    auto halves = x.chunk(2, -1);
    return at::cat({halves[0] * c - halves[1] * s, halves[1] * c + halves[0] * s}, -1);
  }
  at::Tensor pairs = x.unflatten(-1, {-1, 2});  // [..., R/2, 2]
  at::Tensor a = pairs.select(-1, 0), b = pairs.select(-1, 1);
  return at::stack({a * c - b * s, b * c + a * s}, -1).flatten(-2);
}

at::Tensor rope_fused(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout) {
  DSRL_CHECK(rope_kernel_applies(x, cos, sin),
             "rope_fused: expected bf16 CUDA x [B, S, R] or [B, S, H, R] (R even, last dim contiguous, not empty) and "
             "fp32 cos, sin [B, S, R/2] on its GPU, not requiring grad; got x [{}] {} on {}, cos [{}] {}, sin [{}] {}",
             fmt::join(x.sizes(), ", "), c10::toString(x.scalar_type()), x.device().str(), fmt::join(cos.sizes(), ", "),
             c10::toString(cos.scalar_type()), fmt::join(sin.sizes(), ", "), c10::toString(sin.scalar_type()));
  if (!at::GradMode::is_enabled() || !x.requires_grad()) return rotate(x, cos, sin, layout, false);
  return RopeFunction::apply(x, cos, sin, static_cast<int64_t>(layout));
}

at::Tensor rope_layer(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, RopeLayout layout) {
  return rope_kernel_applies(x, cos, sin) ? rope_fused(x, cos, sin, layout) : rope_eager(x, cos, sin, layout);
}

bool rope_kernel_applies(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
#ifdef DSRL_CUDA
  if (!x.is_cuda() || x.scalar_type() != at::kBFloat16 || (x.dim() != 3 && x.dim() != 4) || x.stride(-1) != 1 ||
      x.numel() == 0)
    return false;
  const int64_t R = x.size(-1);
  const auto table_ok = [&](const at::Tensor& t) {
    return t.device() == x.device() && t.scalar_type() == at::kFloat && t.dim() == 3 && t.size(0) == x.size(0) &&
           t.size(1) == x.size(1) && t.size(2) == R / 2 && !t.requires_grad();
  };
  return R >= 2 && R % 2 == 0 && table_ok(cos) && table_ok(sin);
#else
  (void)x, (void)cos, (void)sin;
  return false;
#endif
}

}  // namespace dsrl
