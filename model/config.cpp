#include "model/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <set>

#include "common/config.h"
#include "common/log.h"

namespace dsrl {
namespace {

using json = nlohmann::json;

// config.json keys that carry no maths for us (bookkeeping of transformers and of DeepSeek's release).
const std::set<std::string> kIgnoredKeys = {
    "architectures", "auto_map", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "_name_or_path", "id2label", "label2id", "chunk_size_feed_forward", "is_encoder_decoder", "output_attentions",
    "output_hidden_states", "return_dict", "problem_type", "pad_token_id", "ep_size", "head_dim", "qk_head_dim",
    "num_nextn_predict_layers", "tokenizer_class", "attention_dropout", "mlp_bias",
    // checked by check_semantics (or after parsing) rather than read:
    "model_type", "hidden_act", "scoring_func", "topk_method", "attention_bias", "moe_layer_freq",
    "num_key_value_heads", "layer_types", "mlp_layer_types"};

[[noreturn]] void bad(const std::string& file, const std::string& key, const std::string& message) {
  throw ConfigError(fmt::format("{}: {} {}", file, key, message));
}

std::string scalar_text(const json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

// Checks the keys whose other values would need maths we do not implement.
void check_semantics(const json& j, const std::string& file) {
  auto expect = [&](const char* key, const json& want) {
    if (j.contains(key) && !j[key].is_null() && j[key] != want)
      bad(file, key, fmt::format("must be {} (the only variant implemented), got {}", want.dump(), j[key].dump()));
  };
  expect("hidden_act", "silu");
  expect("scoring_func", "sigmoid");
  expect("topk_method", "noaux_tc");
  expect("attention_bias", false);
  expect("moe_layer_freq", 1);
  expect("model_type", "deepseek_v32");
  if (j.contains("q_lora_rank") && j["q_lora_rank"].is_null())
    bad(file, "q_lora_rank", "must be set: the lightning indexer reads the q latent (got null)");
  if (j.contains("num_key_value_heads") && j.contains("num_attention_heads") &&
      j["num_key_value_heads"] != j["num_attention_heads"])
    bad(file, "num_key_value_heads", "must equal num_attention_heads (MLA has no grouped KV heads), got " +
                                         j["num_key_value_heads"].dump());
  if (j.contains("quantization_config"))
    bad(file, "quantization_config", "is present: FP8-quantized checkpoints are not supported yet; dequantize the "
                                     "weights to bf16 first");
  if (j.contains("layer_types") && j["layer_types"].is_array())
    for (const auto& t : j["layer_types"])
      if (t != "deepseek_sparse_attention") bad(file, "layer_types", "may only hold deepseek_sparse_attention, got " + t.dump());
}

// config.json's rope_scaling (legacy) or rope_parameters (transformers 5) -> our rope_scaling section.
void convert_rope(const json& rope, YAML::Node& out, const std::string& file, const std::string& key) {
  if (rope.is_null()) return;
  if (!rope.is_object()) bad(file, key, "must be an object, got " + rope.dump());
  YAML::Node scaling(YAML::NodeType::Map);
  for (const auto& [name, value] : rope.items()) {
    if (name == "rope_theta") out["rope_theta"] = scalar_text(value);
    else if (name == "type" || name == "rope_type")
      scaling["type"] = value == "default" ? std::string("none") : scalar_text(value);
    else if (name == "factor" || name == "original_max_position_embeddings" || name == "beta_fast" ||
             name == "beta_slow" || name == "mscale" || name == "mscale_all_dim")
      scaling[name] = scalar_text(value);
    else if (name != "truncate" && name != "partial_rotary_factor")
      bad(file, key + "." + name, "is not a RoPE parameter dsrl implements");
  }
  if (scaling.size() > 0) out["rope_scaling"] = scaling;
}

}  // namespace

double yarn_mscale(double factor, double m) { return factor <= 1 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; }

double ModelConfig::softmax_scale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  if (rope_scaling.type == "yarn" && rope_scaling.mscale_all_dim != 0) {
    const double m = yarn_mscale(rope_scaling.factor, rope_scaling.mscale_all_dim);
    scale *= m * m;
  }
  return scale;
}

void describe(ConfigIO& io, RopeScaling& c) {
  io.choice("type", c.type, {"none", "yarn"});
  io.field("factor", c.factor, 1.0, 1e6);
  io.field("original_max_position_embeddings", c.original_max_position_embeddings, 1, 1 << 30);
  io.field("beta_fast", c.beta_fast, 0.0, 1e6);
  io.field("beta_slow", c.beta_slow, 0.0, 1e6);
  io.field("mscale", c.mscale, 0.0, 1e3);
  io.field("mscale_all_dim", c.mscale_all_dim, 0.0, 1e3);
}

void describe(ConfigIO& io, ModelConfig& c) {
  constexpr int kBig = 1 << 30;
  io.field("vocab_size", c.vocab_size, 1, kBig);
  io.field("hidden_size", c.hidden_size, 1, 1 << 20);
  io.field("intermediate_size", c.intermediate_size, 1, 1 << 22);
  io.field("moe_intermediate_size", c.moe_intermediate_size, 1, 1 << 22);
  io.field("num_hidden_layers", c.num_hidden_layers, 1, 1024);
  io.field("first_k_dense_replace", c.first_k_dense_replace, 0, 1024);
  io.field("num_attention_heads", c.num_attention_heads, 1, 1024);
  io.field("q_lora_rank", c.q_lora_rank, 1, 1 << 20);
  io.field("kv_lora_rank", c.kv_lora_rank, 1, 1 << 20);
  io.field("qk_nope_head_dim", c.qk_nope_head_dim, 1, 4096);
  io.field("qk_rope_head_dim", c.qk_rope_head_dim, 2, 4096);
  io.field("v_head_dim", c.v_head_dim, 1, 4096);
  io.field("n_routed_experts", c.n_routed_experts, 1, 65535);
  io.field("n_shared_experts", c.n_shared_experts, 0, 64);
  io.field("num_experts_per_tok", c.num_experts_per_tok, 1, 64);
  io.field("n_group", c.n_group, 1, 1024);
  io.field("topk_group", c.topk_group, 1, 1024);
  io.field("routed_scaling_factor", c.routed_scaling_factor, 0.0, 1e3);
  io.field("norm_topk_prob", c.norm_topk_prob);
  io.field("index_n_heads", c.index_n_heads, 1, 1024);
  io.field("index_head_dim", c.index_head_dim, 2, 4096);
  io.field("index_topk", c.index_topk, 1, kBig);
  io.field("rope_theta", c.rope_theta, 1.0, 1e12);
  io.section("rope_scaling", c.rope_scaling);
  io.field("rms_norm_eps", c.rms_norm_eps, 0.0, 1.0);
  io.field("initializer_range", c.initializer_range, 0.0, 10.0);
  io.field("max_position_embeddings", c.max_position_embeddings, 1, kBig);
  io.field("tie_word_embeddings", c.tie_word_embeddings);
  io.field("bos_token_id", c.bos_token_id, 0, kBig);
  io.field("eos_token_id", c.eos_token_id, 0, kBig);
  io.field("indexer_fp8", c.indexer_fp8);
}

void validate_model_config(const ModelConfig& c, const std::string& source) {
  auto fail = [&](const std::string& key, const std::string& message) { bad(source, key, message); };
  if (c.first_k_dense_replace > c.num_hidden_layers)
    fail("first_k_dense_replace", fmt::format("must be <= num_hidden_layers ({}), got {}", c.num_hidden_layers,
                                              c.first_k_dense_replace));
  if (c.n_routed_experts % c.n_group != 0)
    fail("n_group", fmt::format("must divide n_routed_experts ({}), got {}", c.n_routed_experts, c.n_group));
  if (c.n_group > 1 && c.n_routed_experts / c.n_group < 2)
    fail("n_group", "leaves fewer than 2 experts per group; group scores sum each group's top 2");
  if (c.topk_group > c.n_group)
    fail("topk_group", fmt::format("must be <= n_group ({}), got {}", c.n_group, c.topk_group));
  const int reachable = c.topk_group * (c.n_routed_experts / c.n_group);
  if (c.num_experts_per_tok > reachable)
    fail("num_experts_per_tok", fmt::format("must be <= topk_group * experts per group ({}), got {}", reachable,
                                            c.num_experts_per_tok));
  if (c.qk_rope_head_dim % 2 != 0) fail("qk_rope_head_dim", fmt::format("must be even, got {}", c.qk_rope_head_dim));
  if (c.index_head_dim < c.qk_rope_head_dim)
    fail("index_head_dim", fmt::format("must be >= qk_rope_head_dim ({}), got {}", c.qk_rope_head_dim, c.index_head_dim));
  if (c.indexer_fp8 && (c.index_head_dim & (c.index_head_dim - 1)) != 0)
    fail("indexer_fp8", fmt::format("needs a power-of-two index_head_dim for the Hadamard rotation, got {}",
                                    c.index_head_dim));
}

ModelConfig load_model_config(const std::string& path) {
  auto ends_with = [&](const std::string& suffix) {
    return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".yaml") || ends_with(".yml")) {
    ModelConfig config = parse_config<ModelConfig>(load_yaml(path), path);
    validate_model_config(config, path);
    return config;
  }
  std::string file = path;
  if (std::ifstream(path + "/config.json")) file = path + "/config.json";
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("cannot read model config {}", file));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw ConfigError(fmt::format("{}: not valid JSON: {}", file, e.what()));
  }
  if (!j.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", file));
  check_semantics(j, file);
  ModelConfig defaults;
  ConfigIO names = ConfigIO::writer();
  describe(names, defaults);
  const YAML::Node& known = names.node();  // our keys, the same as config.json's
  YAML::Node node(YAML::NodeType::Map);
  for (const auto& [key, value] : j.items()) {
    if (key == "rope_scaling" || key == "rope_parameters") {
      convert_rope(value, node, file, key);
    } else if (key == "eos_token_id" && value.is_array() && !value.empty()) {
      node[key] = scalar_text(value[0]);  // several stop ids: the first is the end of sequence (generation stops
                                          // on the stop ids a request gives)
    } else if (known[key]) {
      if (value.is_null()) continue;
      if (!value.is_primitive()) bad(file, key, "must be a single value, got " + value.dump());
      node[key] = scalar_text(value);
    } else if (!kIgnoredKeys.count(key)) {
      logger("model")->warn("{}: ignoring unknown key {}", file, key);
    }
  }
  ModelConfig config = parse_config<ModelConfig>(node, file);
  if (j.contains("mlp_layer_types") && j["mlp_layer_types"].is_array()) {
    const auto& types = j["mlp_layer_types"];
    for (size_t i = 0; i < types.size(); ++i)
      if ((types[i] == "sparse") != config.is_moe_layer(static_cast<int>(i)))
        bad(file, "mlp_layer_types", fmt::format("disagrees with first_k_dense_replace={} at layer {}",
                                                 config.first_k_dense_replace, i));
  }
  validate_model_config(config, file);
  return config;
}

void save_model_config(const ModelConfig& c, const std::string& path) {
  ConfigIO io = ConfigIO::writer();
  ModelConfig copy = c;
  describe(io, copy);
  json j;
  for (const auto& entry : io.node()) {
    const std::string key = entry.first.as<std::string>();
    if (key == "rope_scaling") continue;
    const std::string text = entry.second.as<std::string>();
    try {
      j[key] = json::parse(text);  // numbers and booleans
    } catch (const json::exception&) {
      j[key] = text;
    }
  }
  if (c.rope_scaling.type == "yarn") {
    const auto& r = c.rope_scaling;
    j["rope_scaling"] = {{"type", "yarn"}, {"factor", r.factor},
                         {"original_max_position_embeddings", r.original_max_position_embeddings},
                         {"beta_fast", r.beta_fast}, {"beta_slow", r.beta_slow}, {"mscale", r.mscale},
                         {"mscale_all_dim", r.mscale_all_dim}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["architectures"] = {"DeepseekV32ForCausalLM"};
  j["model_type"] = "deepseek_v32";
  j["num_key_value_heads"] = c.num_attention_heads;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  DSRL_CHECK(out.good(), "cannot write model config {}", path);
}

}  // namespace dsrl
