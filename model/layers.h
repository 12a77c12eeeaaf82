// Small building blocks of the model: RMSNorm, RoPE (interleaved for MLA, half-split for the indexer, YaRN),
// the SwiGLU MLP, and the FP8 simulation used by the indexer.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "model/config.h"

namespace dsrl {

// y = x / sqrt(mean(x^2) + eps) * weight, computed in fp32 and cast back to x's dtype before the weight (as HF).
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);  // x: [..., dim]
  at::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// A bias-free linear layer, the only kind the model uses.
torch::nn::Linear linear(int64_t in, int64_t out);

// Rotary tables: inv_freq over qk_rope_head_dim (YaRN-corrected when configured) and the cos/sin scaling.
struct Rope {
  at::Tensor inv_freq;            // [R/2] fp32
  double attention_factor = 1.0;  // multiplies cos and sin (YaRN: mscale / mscale_all_dim)
};
Rope make_rope(const ModelConfig& config);
// cos, sin: [B, S, R/2] fp32 for positions [B, S].
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const Rope& rope, const at::Tensor& positions);
// Rotates consecutive pairs (x0, x1), (x2, x3), ... (DeepSeek's MLA layout). x: [B, S, R] or [B, S, H, R].
at::Tensor rope_interleaved(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// Rotates pairs (x_i, x_{i+R/2}) (the indexer's layout). x: [B, S, R] or [B, S, H, R].
at::Tensor rope_half(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// SwiGLU: down(silu(gate(x)) * up(x)). HF names gate_proj, up_proj, down_proj.
class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(int64_t hidden, int64_t intermediate);
  at::Tensor forward(const at::Tensor& x);  // x: [..., hidden]
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

// FP8 simulation of the indexer's inputs: x @ H (normalised Sylvester Hadamard over the last dim, a power of two),
// then e4m3 quantisation with one power-of-two scale per 128-wide block of the last dim, dequantised back. The
// gradient passes the quantisation straight through.
at::Tensor hadamard_rotate(const at::Tensor& x);
at::Tensor fp8_e4m3_roundtrip(const at::Tensor& x, int64_t block = 128);

// The quantisation itself, as the FP8 kernels take it: values = e4m3(x / scale) with x's shape, scales fp32
// [..., d / b] (b = min(block, d)), each the power of two that brings its block's max |x| to at most 448.
// fp8_e4m3_roundtrip(x) == values * scales (block-wise), in x's dtype.
struct Fp8Blocks {
  at::Tensor values;  // [..., d] kFloat8_e4m3fn
  at::Tensor scales;  // [..., d / b] fp32
};
Fp8Blocks fp8_e4m3_quantize(const at::Tensor& x, int64_t block = 128);

}  // namespace dsrl
