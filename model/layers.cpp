#include "model/layers.h"

#include <ATen/ATen.h>

#include <cmath>

#include "model/norm_ops.h"
#include "model/rope_ops.h"

namespace dsrl {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) { return rms_norm_layer(x, weight, eps); }

torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

namespace {

// The dimension index at which a frequency completes `rotations` turns over `context` positions.
double correction_dim(double rotations, double dim, double base, double context) {
  return dim * std::log(context / (rotations * 2 * M_PI)) / (2 * std::log(base));
}

}  // namespace

Rope make_rope(const ModelConfig& config) {
  const int64_t dim = config.qk_rope_head_dim;
  at::Tensor exponents = at::arange(0, dim, 2, at::kFloat) / static_cast<double>(dim);
  at::Tensor pos_freqs = at::pow(config.rope_theta, exponents);
  Rope rope;
  rope.inv_freq = 1.0 / pos_freqs;  // [R/2]
  const RopeScaling& y = config.rope_scaling;
  if (y.type != "yarn") return rope;
  // YaRN: interpolate low frequencies by 1/factor, keep high ones, ramp linearly in between.
  const double context = y.original_max_position_embeddings;
  double low = std::floor(correction_dim(y.beta_fast, dim, config.rope_theta, context));
  double high = std::ceil(correction_dim(y.beta_slow, dim, config.rope_theta, context));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  at::Tensor ramp = ((at::arange(dim / 2, at::kFloat) - low) / (high - low)).clamp(0, 1);
  at::Tensor keep = 1 - ramp;  // 1: extrapolate (keep), 0: interpolate
  at::Tensor interpolated = 1.0 / (y.factor * pos_freqs);
  rope.inv_freq = interpolated * (1 - keep) + rope.inv_freq * keep;
  if (y.mscale != 0 && y.mscale_all_dim != 0)
    rope.attention_factor = yarn_mscale(y.factor, y.mscale) / yarn_mscale(y.factor, y.mscale_all_dim);
  else
    rope.attention_factor = yarn_mscale(y.factor, 1.0);
  return rope;
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const Rope& rope, const at::Tensor& positions) {
  at::Tensor inv = rope.inv_freq.to(positions.device());
  at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inv;  // [B, S, R/2]
  return {angles.cos() * rope.attention_factor, angles.sin() * rope.attention_factor};
}

at::Tensor rope_interleaved(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return rope_layer(x, cos, sin, RopeLayout::kInterleaved);
}

at::Tensor rope_half(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return rope_layer(x, cos, sin, RopeLayout::kHalf);
}

MLPImpl::MLPImpl(int64_t hidden, int64_t intermediate) {
  gate_proj = register_module("gate_proj", linear(hidden, intermediate));
  up_proj = register_module("up_proj", linear(hidden, intermediate));
  down_proj = register_module("down_proj", linear(intermediate, hidden));
}

at::Tensor MLPImpl::forward(const at::Tensor& x) {
  return down_proj(at::silu(gate_proj(x)) * up_proj(x));
}

at::Tensor hadamard_rotate(const at::Tensor& x) {
  const int64_t d = x.size(-1);
  TORCH_CHECK(d > 0 && (d & (d - 1)) == 0, "hadamard_rotate needs a power-of-two width, got ", d);
  at::Tensor h = at::ones({1, 1}, x.options().dtype(at::kFloat));
  while (h.size(0) < d) h = at::cat({at::cat({h, h}, 1), at::cat({h, -h}, 1)}, 0);  // Sylvester construction
  return at::matmul(x.to(at::kFloat), h / std::sqrt(static_cast<double>(d))).to(x.scalar_type());
}

Fp8Blocks fp8_e4m3_quantize(const at::Tensor& x, int64_t block) {
  constexpr double kE4m3Max = 448.0;
  const int64_t d = x.size(-1);
  const int64_t b = std::min(block, d);
  TORCH_CHECK(b > 0 && d % b == 0, "fp8 block size ", b, " must divide the width ", d);
  at::Tensor blocks = x.detach().to(at::kFloat).unflatten(-1, {d / b, b});  // [..., d / b, b]
  at::Tensor amax = blocks.abs().amax(-1, true).clamp_min(1e-4);
  at::Tensor scale = at::exp2(at::ceil(at::log2(amax / kE4m3Max)));  // power-of-two block scale
  return {(blocks / scale).to(at::kFloat8_e4m3fn).flatten(-2), scale.squeeze(-1)};
}

at::Tensor fp8_e4m3_roundtrip(const at::Tensor& x, int64_t block) {
  const int64_t d = x.size(-1);
  Fp8Blocks q = fp8_e4m3_quantize(x, block);
  at::Tensor blocks = q.values.to(at::kFloat).unflatten(-1, {q.scales.size(-1), d / q.scales.size(-1)});
  at::Tensor out = (blocks * q.scales.unsqueeze(-1)).flatten(-2).to(x.scalar_type());
  // Straight through: the quantisation simulates the forward only, and the gradient reaches what made x (the
  // indexer's weights, through its KL). x - x.detach() is exactly 0, so the value stays the quantised one.
  return x.requires_grad() ? out.detach() + (x - x.detach()) : out;
}

}  // namespace dsrl
