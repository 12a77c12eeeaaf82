// The lightning indexer's selection: logits of every (query, key) pair and the top-k keys per query.
//
//   q:       [batch, s_q, heads, dim]  indexer queries (the caller folds dim^-0.5 in)
//   k:       [batch, n_keys, dim]      indexer keys
//   w:       [batch, s_q, heads]       per-head weights (the caller folds heads^-0.5 in)
//   key_end: [batch, s_q] int32        keys [0, key_end) are visible to the query (causal: position + 1)
//   logits:  [batch, s_q, n_keys]      sum_h w[h] * ReLU(q[h] . k[t]) for t < key_end, -inf after
// Top-k selection, per row of logits [rows, n]: the positions of the k largest values that are > -inf, ties to
// the lower position, written in ascending position order, then -1 for the slots left when fewer than k exist.
//
// Plain C++ references here; CUDA launchers in indexer_cuda.h; at::Tensor wrappers in model/kernel_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

struct IndexerShape {
  int64_t batch = 0;   // sequences
  int64_t s_q = 0;     // queries per sequence
  int64_t n_keys = 0;  // keys per sequence
  int64_t heads = 0;   // indexer heads
  int64_t dim = 0;     // channels per head and per key
};

void indexer_logits_reference(const float* q, const float* k, const float* w, const int32_t* key_end, float* logits,
                              const IndexerShape& shape);

void topk_positions_reference(const float* logits, int64_t rows, int64_t n, int64_t k, int32_t* out);

// Whether the CUDA logits kernels (bf16 and FP8) have an instantiation: heads 8, 16, 32 or 64 and dim 64 or 128.
bool indexer_cuda_supports(int64_t heads, int64_t dim);

}  // namespace dsrl::kernels
