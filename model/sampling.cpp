#include "model/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

#include "common/error.h"

namespace dsrl {

at::Generator make_generator(const at::Device& device, uint64_t seed) {
  if (device.is_cuda()) {
#ifdef DSRL_CUDA
    at::Generator gen = at::cuda::detail::createCUDAGenerator(device.index() < 0 ? -1 : device.index());
    gen.set_current_seed(seed);
    return gen;
#else
    DSRL_FAIL("a CUDA generator needs a -DDSRL_CUDA=ON build");
#endif
  }
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

at::Tensor masked_log_softmax(const at::Tensor& logits, const at::Tensor& kept, double temperature) {
  at::Tensor scaled = logits.to(at::kFloat) / (temperature > 0 ? temperature : 1.0);
  return at::log_softmax(scaled.masked_fill(kept.logical_not(), -INFINITY), -1);
}

namespace {

// [B, V] bool: top-k ∩ nucleus(top-p) of `scaled` logits, both computed on the full distribution (the nucleus
// is the smallest most-likely set with mass >= top_p before any truncation).
at::Tensor kept_set(const at::Tensor& scaled, const SamplingParams& p) {
  const int64_t V = scaled.size(-1);
  auto [sorted, order] = scaled.sort(-1, /*descending=*/true);
  at::Tensor keep_sorted = at::ones_like(sorted, at::kBool);
  if (p.top_k > 0 && p.top_k < V) keep_sorted.narrow(-1, p.top_k, V - p.top_k).fill_(false);
  if (p.top_p > 0 && p.top_p < 1) {
    at::Tensor probs = at::softmax(sorted, -1);
    at::Tensor mass_before = probs.cumsum(-1) - probs;  // mass of the strictly better tokens
    keep_sorted = keep_sorted & (mass_before < p.top_p);
  }
  at::Tensor kept = at::zeros_like(keep_sorted).scatter_(-1, order, keep_sorted);
  if (p.vocab_limit > 0 && p.vocab_limit < V) kept.narrow(-1, p.vocab_limit, V - p.vocab_limit).fill_(false);
  return kept;
}

at::Tensor bit_shifts(const at::Device& device) { return at::arange(8, at::TensorOptions(at::kByte).device(device)); }

}  // namespace

at::Tensor kept_tokens(const at::Tensor& logits, const SamplingParams& p) {
  DSRL_CHECK(p.temperature > 0, "kept_tokens needs a temperature > 0, got {}", p.temperature);
  return kept_set(limit_vocab(logits.to(at::kFloat), p.vocab_limit) / p.temperature, p);
}

at::Tensor limit_vocab(const at::Tensor& logits, int64_t limit) {
  const int64_t V = logits.size(-1);
  DSRL_CHECK(limit >= 0 && limit <= V, "vocab_limit must be in [0, {}] (0: off), got {}", V, limit);
  if (limit == 0 || limit == V) return logits;
  const at::Tensor beyond = at::arange(V, logits.options().dtype(at::kLong)) >= limit;  // [V]
  return logits.masked_fill(beyond, -INFINITY);
}

at::Tensor pack_kept_bits(const at::Tensor& kept) {
  const int64_t V = kept.size(-1), pad = (8 - V % 8) % 8;
  at::Tensor bytes = at::constant_pad_nd(kept.to(at::kByte), {0, pad});  // [..., V8 * 8]
  std::vector<int64_t> shape = bytes.sizes().vec();
  shape.back() /= 8;
  shape.push_back(8);
  return bytes.view(shape).bitwise_left_shift(bit_shifts(kept.device())).sum(-1, false, at::kByte);
}

at::Tensor unpack_kept_bits(const at::Tensor& bits, int64_t vocab) {
  DSRL_CHECK(bits.scalar_type() == at::kByte && bits.size(-1) == (vocab + 7) / 8,
             "unpack_kept_bits: expected [..., {}] uint8 for a vocabulary of {}, got [..., {}] {}", (vocab + 7) / 8,
             vocab, bits.size(-1), c10::toString(bits.scalar_type()));
  std::vector<int64_t> shape = bits.sizes().vec();
  shape.back() *= 8;
  at::Tensor flags = bits.unsqueeze(-1).bitwise_right_shift(bit_shifts(bits.device())).bitwise_and(1);
  return flags.reshape(shape).narrow(-1, 0, vocab).to(at::kBool);
}

// Checks the parameters; returns the greedy result, or the kept set and the log-probs to draw from
// (out.tokens undefined, *logp [B, V]).
Sampled prepare(const at::Tensor& logits, const SamplingParams& p, at::Tensor* logp) {
  DSRL_CHECK(logits.dim() == 2, "sample_tokens: logits must be [B, V], got {} dims", logits.dim());
  DSRL_CHECK(p.temperature >= 0, "temperature must be >= 0, got {}", p.temperature);
  DSRL_CHECK(p.top_p >= 0 && p.top_p <= 1, "top_p must be in [0, 1], got {}", p.top_p);
  DSRL_CHECK(p.top_k >= 0, "top_k must be >= 0, got {}", p.top_k);
  at::Tensor x = limit_vocab(logits.to(at::kFloat), p.vocab_limit);
  Sampled out;
  if (p.temperature == 0) {  // greedy: the kept set is the argmax alone, probability 1
    out.tokens = x.argmax(-1);
    out.kept = at::zeros_like(x, at::kBool).scatter_(-1, out.tokens.unsqueeze(-1), true);
    out.logprobs = at::zeros({x.size(0)}, x.options());
    return out;
  }
  at::Tensor scaled = x / p.temperature;
  out.kept = kept_set(scaled, p);
  *logp = at::log_softmax(scaled.masked_fill(out.kept.logical_not(), -INFINITY), -1);  // [B, V]
  return out;
}

Sampled sample_tokens(const at::Tensor& logits, const SamplingParams& p, at::Generator generator) {
  at::Tensor logp;
  Sampled out = prepare(logits, p, &logp);
  if (out.tokens.defined()) return out;
  out.tokens = at::multinomial(logp.exp(), 1, false, generator).squeeze(-1);
  out.logprobs = logp.gather(-1, out.tokens.unsqueeze(-1)).squeeze(-1);
  return out;
}

Sampled sample_tokens(const at::Tensor& logits, const SamplingParams& p, const at::Tensor& uniforms) {
  DSRL_CHECK(uniforms.dim() == 1 && uniforms.size(0) == logits.size(0), "sample_tokens: one uniform per row: "
             "expected [{}], got {} values", logits.size(0), uniforms.numel());
  at::Tensor logp;
  Sampled out = prepare(logits, p, &logp);
  if (out.tokens.defined()) return out;
  at::Tensor cdf = logp.exp().to(at::kDouble).cumsum(-1);                                // [B, V]
  at::Tensor u = uniforms.to(cdf.device(), at::kDouble).clamp(0.0, 1.0 - 1e-12);  // strictly below the total
  at::Tensor target = (u * cdf.select(-1, -1)).unsqueeze(-1);                          // [B, 1]
  // The first token whose cumulative mass exceeds the target: never a dropped token (its mass adds nothing).
  out.tokens = at::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).squeeze(-1);
  out.logprobs = logp.gather(-1, out.tokens.unsqueeze(-1)).squeeze(-1);
  return out;
}

}  // namespace dsrl
