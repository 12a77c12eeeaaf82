// Batched generation with the latent KV cache: prefill the prompts (right-padded), then decode one token per row
// per step until each row stops. The simple engine behind `dsrl-model generate`; the rollout service builds its
// continuous batching on the same pieces.
#pragma once

#include <cstdint>
#include <vector>

#include "model/sampling.h"
#include "model/transformer.h"

namespace dsrl {

struct GenerateOptions {
  SamplingParams sampling;
  int64_t max_new_tokens = 64;
  std::vector<int64_t> stop_token_ids;  // a row ends after emitting one of these
  uint64_t seed = 0;
  int64_t vocab_limit = 0;              // sample only ids below this (a tokenizer smaller than the embedding
                                        // table); 0 = the whole vocabulary
};

struct Generation {
  std::vector<int64_t> tokens;    // generated tokens (a stop token included)
  std::vector<float> logprobs;    // behaviour log-prob of each
  bool stopped = false;           // ended on a stop token (else max_new_tokens or the context)
};

std::vector<Generation> generate(DeepseekV32& model, const std::vector<std::vector<int64_t>>& prompts,
                                 const GenerateOptions& options);

}  // namespace dsrl
