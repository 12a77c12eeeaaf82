#include "model/transformer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "common/error.h"
#include "model/kv_cache.h"

namespace dsrl {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, int64_t index_) : index(index_) {
  self_attn = register_module("self_attn", MLA(c));
  if (c.is_moe_layer(static_cast<int>(index)))
    mlp_moe = register_module("mlp", MoE(c));
  else
    mlp_dense = register_module("mlp", MLP(c.hidden_size, c.intermediate_size));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const AttentionContext& ctx, KVCache* cache,
                                     const at::Tensor& replay_topk, const at::Tensor& replay_experts,
                                     at::Tensor* chosen_topk, MoETraces* moe) {
  at::Tensor h = input_layernorm(x);
  LayerKeys keys = self_attn->new_keys(h, ctx);
  if (cache) keys = cache->append(index, keys);
  at::Tensor y = x + self_attn(h, keys, ctx, replay_topk, chosen_topk);
  at::Tensor z = post_attention_layernorm(y);
  return y + (mlp_moe ? mlp_moe(z, replay_experts, moe) : mlp_dense(z));
}

DecoderStackImpl::DecoderStackImpl(const ModelConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c, i));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

DeepseekV32Impl::DeepseekV32Impl(const ModelConfig& c) : config_(c), rope_(make_rope(c)) {
  model = register_module("model", DecoderStack(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", linear(c.hidden_size, c.vocab_size));
}

at::Tensor DeepseekV32Impl::lm_head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

namespace {
// Checks a per-layer replay list: one [B, S, k] tensor per layer of the kind.
void check_replay(const std::vector<at::Tensor>* list, size_t layers, const char* what) {
  if (!list) return;
  DSRL_CHECK(list->size() == layers, "replayed {} must hold one tensor per layer: expected {}, got {}", what, layers,
             list->size());
}
}  // namespace

at::Tensor DeepseekV32Impl::hidden(const at::Tensor& tokens, const ForwardOptions& o, ForwardResult* traces) {
  DSRL_CHECK(tokens.dim() == 2, "tokens must be [B, S], got {} dims", tokens.dim());
  const int64_t B = tokens.size(0), S = tokens.size(1);
  check_replay(o.replay_experts, config_.num_moe_layers(), "expert ids");
  check_replay(o.replay_topk, config_.num_hidden_layers, "indexer top-k");
  AttentionContext ctx;
  ctx.sparse = o.sparse;
  ctx.kernels = o.kernels;
  if (o.indexer_loss) {
    DSRL_CHECK(traces, "indexer_loss needs a ForwardResult to put the terms in");
    ctx.indexer_terms = &traces->indexer;
  }
  ctx.impl = o.impl == AttentionImpl::kAuto ? (o.cache ? AttentionImpl::kMQA : AttentionImpl::kMHA) : o.impl;
  if (o.cache && o.decode_lengths.defined()) {
    DSRL_CHECK_EQ(o.cache->batch(), B, "KV cache rows vs token rows");
    DSRL_CHECK(S == 1 && o.decode_lengths.numel() == B, "a fixed-shape decode feeds one token per row and one length "
               "per row: expected [{}, 1] tokens and {} lengths, got [{}, {}] and {}", B, B, B, S,
               o.decode_lengths.numel());
    ctx.positions = o.decode_lengths.view({B, 1});
    o.cache->begin_decode(o.decode_lengths);
  } else if (o.cache) {
    DSRL_CHECK_EQ(o.cache->batch(), B, "KV cache rows vs token rows");
    ctx.positions = o.cache->positions(S, tokens.device());
    o.cache->begin_append(o.valid.empty() ? std::vector<int64_t>(B, S) : o.valid, S, tokens.device());
  } else {
    ctx.positions = at::arange(S, tokens.options().dtype(at::kLong)).unsqueeze(0).expand({B, S});
  }
  if (o.kernels) {  // computed once here rather than in every layer (AttentionContext)
    ctx.keys = o.cache ? o.cache->keys() : S;
    ctx.key_end = (ctx.positions + 1).clamp_max(ctx.keys).to(at::kInt);
    ctx.row_offset = at::arange(B, ctx.positions.options()).mul_(ctx.keys).view({B, 1, 1});
  }
  if (rope_.inv_freq.device() != tokens.device()) rope_.inv_freq = rope_.inv_freq.to(tokens.device());  // once
  std::tie(ctx.cos, ctx.sin) = rope_cos_sin(rope_, ctx.positions);

  at::Tensor x = model->embed_tokens(tokens);  // [B, S, D]
  int moe_index = 0;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    auto layer = model->layers->ptr<DecoderLayerImpl>(i);
    const bool moe = static_cast<bool>(layer->mlp_moe);
    at::Tensor replay_topk = o.replay_topk ? (*o.replay_topk)[i] : at::Tensor();
    at::Tensor replay_experts = (moe && o.replay_experts) ? (*o.replay_experts)[moe_index] : at::Tensor();
    at::Tensor chosen_topk;
    const bool topk = o.record && o.record_topk;
    MoETraces mt;
    mt.want_ids = o.record;
    mt.want_balance = o.balance_loss;
    mt.want_mismatch = replay_experts.defined();
    x = layer->forward(x, ctx, o.cache, replay_topk, replay_experts, topk ? &chosen_topk : nullptr, &mt);
    if (traces) {
      if (topk) traces->indexer_topk.push_back(chosen_topk);
      if (mt.ids.defined()) traces->expert_ids.push_back(mt.ids);
      if (mt.balance.defined()) traces->balance.push_back(mt.balance);
      if (mt.mismatch.defined()) traces->route_mismatch.push_back(mt.mismatch);
    }
    moe_index += moe;
  }
  if (o.cache) o.cache->advance();
  return model->norm(x);
}

ForwardResult DeepseekV32Impl::forward(const at::Tensor& tokens, const ForwardOptions& options) {
  ForwardResult result;
  at::Tensor h = hidden(tokens, options, &result);
  result.logits = at::linear(h, lm_head_weight());  // [B, S, V]
  return result;
}

void cast_model(DeepseekV32& model, const at::Device& device, at::ScalarType dtype) {
  model->to(device, dtype);
  for (auto& item : model->named_modules()) {
    if (auto router = std::dynamic_pointer_cast<RouterImpl>(item.value())) router->to(at::kFloat);
    if (auto indexer = std::dynamic_pointer_cast<IndexerImpl>(item.value())) indexer->weights_proj->to(at::kFloat);
  }
}

void init_weights(DeepseekV32& model, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : model->named_parameters()) {
    at::Tensor& t = p.value();
    const std::string& name = p.key();
    const bool norm = name.find("norm") != std::string::npos;  // RMSNorm / LayerNorm weights and biases
    if (norm) {
      t.fill_(name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0 ? 0.0 : 1.0);
    } else {
      at::Tensor cpu = at::empty(t.sizes(), at::kFloat).normal_(0.0, model->config().initializer_range, gen);
      t.copy_(cpu);
    }
  }
  for (auto& b : model->named_buffers()) b.value().zero_();
}

std::pair<int64_t, int64_t> count_parameters(const ModelConfig& c) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads;
  const int64_t attention = D * c.q_lora_rank + c.q_lora_rank + c.q_lora_rank * H * c.qk_head_dim() +
                            D * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank +
                            c.kv_lora_rank * H * (c.qk_nope_head_dim + c.v_head_dim) + H * c.v_head_dim * D;
  const int64_t indexer = c.q_lora_rank * c.index_n_heads * c.index_head_dim + D * c.index_head_dim +
                          2 * c.index_head_dim + D * c.index_n_heads;
  const int64_t expert = 3 * D * static_cast<int64_t>(c.moe_intermediate_size);
  const int64_t dense_mlp = 3 * D * static_cast<int64_t>(c.intermediate_size);
  const int64_t moe_fixed = c.n_routed_experts * D + c.n_shared_experts * expert;
  const int64_t layers_dense = c.num_hidden_layers - c.num_moe_layers(), layers_moe = c.num_moe_layers();
  const int64_t per_layer = attention + indexer + 2 * D;
  const int64_t embeddings = static_cast<int64_t>(c.vocab_size) * D * (c.tie_word_embeddings ? 1 : 2) + D;
  const int64_t common = embeddings + c.num_hidden_layers * per_layer + layers_dense * dense_mlp + layers_moe * moe_fixed;
  return {common + layers_moe * c.n_routed_experts * expert, common + layers_moe * c.num_experts_per_tok * expert};
}

}  // namespace dsrl
