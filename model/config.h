// The model's hyper-parameters, named as the keys of HF's DeepseekV32 config.json so real checkpoints load.
// Read from config.json (load_model_config) or from our YAML `model:` section (describe), validated either way.
#pragma once

#include <string>

namespace dsrl {

class ConfigIO;

// YaRN context extension (config.json "rope_scaling" / "rope_parameters" with type yarn).
struct RopeScaling {
  std::string type = "none";                  // none | yarn
  double factor = 1.0;                        // context extension factor s
  int original_max_position_embeddings = 4096;  // pre-extension context length, tokens
  double beta_fast = 32, beta_slow = 1;       // rotation counts bounding the interpolation ramp
  double mscale = 1.0, mscale_all_dim = 0.0;  // attention temperature terms (softmax scale *= mscale(all_dim)^2)
};

struct ModelConfig {
  int vocab_size = 32000;             // tokens
  int hidden_size = 1024;             // model width D
  int intermediate_size = 2816;       // dense SwiGLU width (first_k_dense_replace layers)
  int moe_intermediate_size = 512;    // width of each routed / shared expert
  int num_hidden_layers = 8;          // L
  int first_k_dense_replace = 1;      // the first k layers use the dense MLP, the rest MoE
  int num_attention_heads = 16;       // H
  int q_lora_rank = 384;              // q latent width (also the indexer's query input)
  int kv_lora_rank = 256;             // kv latent width (what the KV cache holds per token)
  int qk_nope_head_dim = 64;          // per-head q/k width without RoPE
  int qk_rope_head_dim = 32;          // per-head q/k width with RoPE (k_pe shared by heads)
  int v_head_dim = 64;                // per-head value width
  int n_routed_experts = 16;          // E
  int n_shared_experts = 1;           // shared experts (one SwiGLU of width n * moe_intermediate_size)
  int num_experts_per_tok = 4;        // k routed experts per token
  int n_group = 4;                    // expert groups for group-limited routing
  int topk_group = 2;                 // groups a token may route into
  double routed_scaling_factor = 2.5; // multiplies the routed experts' weights
  bool norm_topk_prob = true;         // normalise the k routing weights to sum 1 (before scaling)
  int index_n_heads = 8;              // lightning indexer heads
  int index_head_dim = 64;            // lightning indexer head width d
  int index_topk = 256;               // keys each query attends to in sparse mode
  double rope_theta = 10000;          // RoPE base
  RopeScaling rope_scaling;           // YaRN, when type is yarn
  double rms_norm_eps = 1e-6;
  double initializer_range = 0.02;    // std of the random initialisation of matrices (init_weights)
  int max_position_embeddings = 8192; // longest sequence, tokens
  bool tie_word_embeddings = false;   // lm_head shares the embedding matrix
  int bos_token_id = 0;
  int eos_token_id = 1;
  bool indexer_fp8 = false;           // simulate the FP8 indexer (Hadamard + e4m3, power-of-two block scales)

  int qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int layer) const { return layer >= first_k_dense_replace; }
  int num_moe_layers() const { return num_hidden_layers - std::min(first_k_dense_replace, num_hidden_layers); }
  // The attention softmax scale: qk_head_dim^-0.5, times mscale^2 under YaRN.
  double softmax_scale() const;
};

void describe(ConfigIO& io, ModelConfig& c);

// YaRN's attention temperature: 0.1 * m * ln(factor) + 1 for factor > 1, else 1.
double yarn_mscale(double factor, double m);
void describe(ConfigIO& io, RopeScaling& c);

// Throws ConfigError naming `source` and the key when a value is out of range or inconsistent.
void validate_model_config(const ModelConfig& c, const std::string& source);

// Reads HF config.json (a file, or a folder holding one), or our YAML (a .yaml/.yml file with the same keys at the
// top level, e.g. configs/model/tiny.yaml), validated. In config.json, keys that change the maths in ways we do
// not implement (hidden_act other than silu, scoring_func other than sigmoid, ...) are errors; unknown keys are
// logged.
ModelConfig load_model_config(const std::string& path);
// Writes config.json with HF DeepseekV32 keys (readable by transformers).
void save_model_config(const ModelConfig& c, const std::string& path);

}  // namespace dsrl
