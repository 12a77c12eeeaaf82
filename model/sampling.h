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
  int64_t vocab_limit = 0;   // only ids below it can be kept (a tokenizer smaller than the model's padded
                             // embedding); 0 = the whole vocabulary
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
// below the vocab limit when both are off). temperature > 0.
at::Tensor kept_tokens(const at::Tensor& logits, const SamplingParams& params);

// The log-softmax of logits / temperature restricted to `kept` (-inf elsewhere): the behaviour log-probs of
// every token under the recorded kept set. logits: [..., V], kept: [..., V] bool.
at::Tensor masked_log_softmax(const at::Tensor& logits, const at::Tensor& kept, double temperature);

// logits with the ids at or past `limit` at -inf (not in place; limit 0 or >= V: logits itself). [..., V].
at::Tensor limit_vocab(const at::Tensor& logits, int64_t limit);

// Kept sets as packed bits, where the tensor is (the layout of proto/sampling_mask.h, so the rollout copies and
// encodes an eighth of the bytes): [..., V] bool -> [..., (V + 7) / 8] uint8, token j at bit j % 8 of byte j / 8.
at::Tensor pack_kept_bits(const at::Tensor& kept);

// The inverse: [..., (V + 7) / 8] uint8 -> [..., V] bool.
at::Tensor unpack_kept_bits(const at::Tensor& bits, int64_t vocab);

}  // namespace dsrl
