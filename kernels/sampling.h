// Fused sampling of one token per row: temperature, top-k, top-p (nucleus), the inverse-CDF draw, and the kept
// set as packed bits (the rollout records it). The semantics of model/sampling.h, with every tie made exact:
//
//   s = logits / temperature (fp32); only ids below vocab_limit take part, and only values > -inf
//   order:   s descending, ties to the lower id
//   kept:    the first min(top_k, n_top_p) of that order, where n_top_p counts the tokens whose mass before them
//            (probabilities of softmax(s), summed in that order) is < top_p; top_k 0 and top_p 0 or 1 mean all
//   draw:    the first kept id (in id order) whose cumulative kept probability exceeds u * (kept mass)
//   logprob: log of the token's probability renormalised over the kept set
//   temperature 0: greedy (the highest logit that is not NaN, lowest id on ties; id 0 if none), kept = {it},
//   logprob 0
//
//   logits [rows, vocab] fp32; uniforms [rows] fp64 in [0, 1); tokens [rows]; logprobs [rows];
//   kept_bits [rows, (vocab + 7) / 8]: token j at bit j % 8 of byte j / 8.
// Plain C++ reference here (probabilities in double); CUDA launcher in sampling_cuda.h; at::Tensor wrapper in
// model/kernel_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

struct SamplingSpec {
  float temperature = 1.0f;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  float top_p = 1.0f;        // 0 or 1 = off
  int64_t vocab_limit = 0;   // ids at or past it are never kept; 0 = off
};

void sample_reference(const float* logits, const double* uniforms, int64_t rows, int64_t vocab,
                      const SamplingSpec& spec, int64_t* tokens, float* logprobs, uint8_t* kept_bits);

}  // namespace dsrl::kernels
