// DeepSeek-V3.2: embed -> L x [RMSNorm -> MLA (+ indexer) -> +res -> RMSNorm -> MLP or MoE -> +res] -> RMSNorm
// -> lm_head. Module and parameter names follow HF's DeepseekV32ForCausalLM, so named_parameters() gives
// checkpoint names (routed experts aside: see checkpoint.h).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include <vector>

#include "model/attention.h"
#include "model/moe.h"

namespace dsrl {

class KVCache;

struct ForwardOptions {
  KVCache* cache = nullptr;        // append the new tokens to this cache and attend over it (decode)
  std::vector<int64_t> valid;      // with a cache: new tokens per row that are real (rest is right padding);
                                   // empty = all S
  at::Tensor decode_lengths;       // with a cache, S = 1: [B] int64 on the model's device, each row's cache
                                   // length; the token goes there and the layers see keys over the whole
                                   // capacity. No host work or host copies: CUDA-graph capturable. The cache's
                                   // host lengths are left alone (KVCache::begin_decode)
  const std::vector<at::Tensor>* replay_experts = nullptr;  // keep routing: [B, S, k] per MoE layer, in order
  const std::vector<at::Tensor>* replay_topk = nullptr;     // [B, S, k] per layer: recorded indexer selection
  bool record = false;             // fill ForwardResult's routing and indexer traces
  bool record_topk = true;         // with record: the indexer's selection too (in dense mode that costs the
                                   // indexer pass that would otherwise be skipped)
  bool sparse = true;              // DSA top-k attention (false: every causal key, as in dense warm-up)
  bool indexer_loss = false;       // train the indexer: fill ForwardResult::indexer (KL to the attention, recall)
  bool balance_loss = false;       // fill ForwardResult::balance (sequence-wise MoE balance term, with gradient)
  AttentionImpl impl = AttentionImpl::kAuto;
  bool kernels = true;              // our CUDA kernels where they apply (false: the eager ATen paths, to compare)
};

struct ForwardResult {
  at::Tensor logits;                       // [B, S, V] in the model's dtype
  std::vector<at::Tensor> expert_ids;      // when record: [B, S, k] int64 per MoE layer
  std::vector<at::Tensor> indexer_topk;    // when record: [B, S, min(index_topk, T)] int64 per layer, -1 = none
  IndexerTerms indexer;                    // when indexer_loss: per layer KL [B, S] and recall [B, S]
  std::vector<at::Tensor> balance;         // when balance_loss: [B] per MoE layer (moe.h sequence_balance)
  std::vector<at::Tensor> route_mismatch;  // with replay_experts: [B, S] bool per MoE layer, where the router's
                                           // own top-k differs from the replayed experts
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& config, int64_t index);
  // x: [B, S, D] -> [B, S, D]. chosen_topk (optional) receives the indexer's selection; moe (optional) what the
  // MoE layer reports (ignored in a dense layer).
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx, KVCache* cache, const at::Tensor& replay_topk,
                     const at::Tensor& replay_experts, at::Tensor* chosen_topk, MoETraces* moe);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  MLA self_attn{nullptr};
  MLP mlp_dense{nullptr};  // registered as "mlp" in the first_k_dense_replace layers
  MoE mlp_moe{nullptr};    // registered as "mlp" in the others
  int64_t index;
};
TORCH_MODULE(DecoderLayer);

// HF's DeepseekV32Model: the "model." part of the names.
class DecoderStackImpl : public torch::nn::Module {
 public:
  explicit DecoderStackImpl(const ModelConfig& config);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(DecoderStack);

class DeepseekV32Impl : public torch::nn::Module {
 public:
  explicit DeepseekV32Impl(const ModelConfig& config);
  // tokens: [B, S] int64. Without a cache positions are 0..S-1; with one they continue each row.
  ForwardResult forward(const at::Tensor& tokens, const ForwardOptions& options = {});
  // The final hidden states before lm_head: [B, S, D] (same options).
  at::Tensor hidden(const at::Tensor& tokens, const ForwardOptions& options, ForwardResult* traces);
  at::Tensor lm_head_weight() const;  // [V, D]: lm_head.weight, or the embedding when tied

  const ModelConfig& config() const { return config_; }
  DecoderStack model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // absent when tie_word_embeddings

 private:
  ModelConfig config_;
  Rope rope_;
};
TORCH_MODULE(DeepseekV32);

// Moves to `device` and casts to `dtype`, keeping fp32 where DeepSeek does (router weight and bias, the indexer's
// weights_proj).
void cast_model(DeepseekV32& model, const at::Device& device, at::ScalarType dtype);
// Random initialisation as HF does: normal(0, initializer_range) matrices, ones for norms, zero router bias.
void init_weights(DeepseekV32& model, uint64_t seed);
// Parameters: total, and active per token (k routed experts instead of all).
std::pair<int64_t, int64_t> count_parameters(const ModelConfig& config);

}  // namespace dsrl
