// Sampling one token per row from logits: temperature, top-k, top-p (nucleus) or greedy. The kept set is
// top-k ∩ nucleus(top-p), both taken on the temperature-scaled distribution before truncation. Returns what the
// rollout records: the token, its log-prob under the distribution actually sampled from (temperature applied,
// truncated to the kept set, renormalised), and the kept set itself.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace dsrl {

struct SamplingParams {
  double temperature = 1.0;  // > 0; 0 means greedy
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // keep the smallest most-likely set with mass >= top_p; 1 (or 0) = all
};

struct Sampled {
  at::Tensor tokens;    // [B] int64
  at::Tensor logprobs;  // [B] fp32
  at::Tensor kept;      // [B, V] bool: the kept set per row (the sampled token is in it)
};

// A generator for `device` seeded with `seed` (CPU or CUDA): sampling runs where the logits are.
at::Generator make_generator(const at::Device& device, uint64_t seed);

// logits: [B, V] (any float dtype, any device; computed in fp32 there). Throws dsrl::Error on bad parameters.
Sampled sample_tokens(const at::Tensor& logits, const SamplingParams& params, at::Generator generator);

// The same, each row's token drawn by inverse CDF (over token ids in order) from its own uniform in [0, 1):
// uniforms [B] fp64 on the CPU. A row's draw then depends on its own random stream only, not on the rows it
// shares a batch with (the rollout engine gives every sample its own stream).
Sampled sample_tokens(const at::Tensor& logits, const SamplingParams& params, const at::Tensor& uniforms);

// The kept set top-k ∩ nucleus(top-p) of logits / temperature, as sampling takes it: [..., V] bool (every token
// when both are off). temperature > 0.
at::Tensor kept_tokens(const at::Tensor& logits, const SamplingParams& params);

// The log-softmax of logits / temperature restricted to `kept` (-inf elsewhere): the behaviour log-probs of
// every token under the recorded kept set. logits: [..., V], kept: [..., V] bool.
at::Tensor masked_log_softmax(const at::Tensor& logits, const at::Tensor& kept, double temperature);

}  // namespace dsrl
