// dsrl-model: look inside a checkpoint (a folder with config.json + safetensors).
//   dsrl-model init OUT --config MODEL.yaml|config.json [--seed S]   (a randomly initialised checkpoint)
//   dsrl-model info CKPT
//   dsrl-model logits CKPT --tokens 1,2,3 [--out logits.safetensors] [--device cpu|cuda]
//   dsrl-model tokenize TOKENIZER --in text.txt          (TOKENIZER: tokenizer.json, its folder, or "byte")
//   dsrl-model generate CKPT --prompt TEXT [--max-new N] [--temperature T] [--top-p P] [--top-k K] [--seed S]
//                            [--tokenizer PATH] [--chat] [--device cpu|cuda]
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "common/error.h"
#include "common/log.h"
#include "model/chat.h"
#include "model/checkpoint.h"
#include "model/generate.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"

namespace dsrl {
namespace {

const char* kUsage = R"(usage:
  dsrl-model init OUT --config MODEL.yaml|config.json [--seed S]
  dsrl-model info CKPT
  dsrl-model logits CKPT --tokens 1,2,3 [--out logits.safetensors] [--device cpu|cuda]
  dsrl-model tokenize TOKENIZER --in text.txt
  dsrl-model generate CKPT --prompt TEXT [--max-new N] [--temperature T] [--top-p P] [--top-k K] [--seed S]
                      [--tokenizer PATH] [--chat] [--device cpu|cuda]
CKPT is a folder with config.json and model.safetensors (or an index and shards). TOKENIZER is a tokenizer.json,
a folder holding one, or "byte" (the built-in byte tokenizer).
)";

struct Args {
  std::string command, target;
  std::map<std::string, std::string> flags;  // --name value ("" for switches)
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = flags.find(name);
    return it == flags.end() ? fallback : it->second;
  }
};

Args parse_args(int argc, char** argv) {
  static const std::map<std::string, bool> known = {  // flag -> takes a value
      {"--tokens", true}, {"--out", true}, {"--device", true}, {"--in", true}, {"--prompt", true},
      {"--max-new", true}, {"--temperature", true}, {"--top-p", true}, {"--top-k", true}, {"--seed", true},
      {"--tokenizer", true}, {"--chat", false}, {"--config", true}};
  DSRL_CHECK(argc >= 3, "expected a command and its target\n{}", kUsage);
  Args a{argv[1], argv[2], {}};
  for (int i = 3; i < argc; ++i) {
    auto it = known.find(argv[i]);
    DSRL_CHECK(it != known.end(), "unknown argument '{}'\n{}", argv[i], kUsage);
    DSRL_CHECK(!it->second || i + 1 < argc, "{} needs a value", argv[i]);
    const std::string flag = argv[i];
    a.flags[flag] = it->second ? argv[++i] : "";
  }
  return a;
}

double number(const Args& a, const std::string& flag, double fallback) {
  const std::string text = a.get(flag);
  if (text.empty()) return fallback;
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    DSRL_CHECK(used == text.size(), "");
    return v;
  } catch (const std::exception&) {
    DSRL_FAIL("{} must be a number, got '{}'", flag, text);
  }
}

at::Device device_of(const Args& a) {
  const std::string d = a.get("--device", "cpu");
  DSRL_CHECK(d == "cpu" || d == "cuda", "--device must be cpu or cuda, got '{}'", d);
  return d == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
}

DeepseekV32 load(const Args& a) {
  const at::Device device = device_of(a);
  return load_model(a.target, device, device.is_cuda() ? at::kBFloat16 : at::kFloat);
}

// A new checkpoint with HF's initialisation (normal(0, 0.02), unit norms) from a model config: our YAML (the
// ModelConfig keys at the top level, e.g. configs/model/tiny.yaml) or an HF config.json.
int init(const Args& a) {
  const std::string source = a.get("--config");
  DSRL_CHECK(!source.empty(), "init needs --config MODEL.yaml or config.json");
  ModelConfig config = load_model_config(source);
  DeepseekV32 model(config);
  init_weights(model, static_cast<uint64_t>(number(a, "--seed", 0)));
  save_model(model, a.target);
  auto [total, active] = count_parameters(config);
  fmt::print("wrote a random {:.3f} M-parameter model to {}\n", total / 1e6, a.target);
  return 0;
}

int info(const Args& a) {
  ModelConfig c = load_model_config(a.target);
  auto [total, active] = count_parameters(c);
  fmt::print("{}\n  layers {} ({} dense, {} MoE), hidden {}, heads {}, vocab {}\n", a.target, c.num_hidden_layers,
             c.num_hidden_layers - c.num_moe_layers(), c.num_moe_layers(), c.hidden_size, c.num_attention_heads,
             c.vocab_size);
  fmt::print("  MLA: q_lora {}, kv_lora {}, qk_nope {}, qk_rope {}, v {}; rope theta {} ({})\n", c.q_lora_rank,
             c.kv_lora_rank, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim, c.rope_theta, c.rope_scaling.type);
  fmt::print("  MoE: {} routed experts (top {}, {} groups, top {} groups), {} shared, width {}\n", c.n_routed_experts,
             c.num_experts_per_tok, c.n_group, c.topk_group, c.n_shared_experts, c.moe_intermediate_size);
  fmt::print("  indexer: {} heads x {}, top-k {}{}\n", c.index_n_heads, c.index_head_dim, c.index_topk,
             c.indexer_fp8 ? " (fp8 simulation)" : "");
  fmt::print("  parameters: {:.3f} M total, {:.3f} M active per token\n", total / 1e6, active / 1e6);
  return 0;
}

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      DSRL_CHECK(used == item.size(), "");
    } catch (const std::exception&) {
      DSRL_FAIL("--tokens must be comma-separated integers, got '{}'", item);
    }
  }
  DSRL_CHECK(!ids.empty(), "--tokens is empty");
  return ids;
}

int logits(const Args& a) {
  DeepseekV32 model = load(a);
  std::vector<int64_t> ids = parse_ids(a.get("--tokens"));
  for (int64_t id : ids)
    DSRL_CHECK(id >= 0 && id < model->config().vocab_size, "token {} is outside the vocabulary [0, {})", id,
               model->config().vocab_size);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::tensor(ids, at::kLong).unsqueeze(0).to(device_of(a));
  at::Tensor out = model->forward(tokens).logits[0].to(at::kFloat).cpu().contiguous();  // [S, V]
  if (!a.get("--out").empty()) {
    write_safetensors(a.get("--out"), {StTensorView{"logits", StDType::F32, {out.size(0), out.size(1)}, out.data_ptr()}});
    fmt::print("wrote logits [{}, {}] fp32 to {}\n", out.size(0), out.size(1), a.get("--out"));
    return 0;
  }
  auto [values, indices] = out.topk(std::min<int64_t>(5, out.size(1)), -1);
  for (int64_t t = 0; t < out.size(0); ++t) {
    std::string row;
    for (int64_t j = 0; j < values.size(1); ++j)
      row += fmt::format(" {}:{:.4f}", indices[t][j].item<int64_t>(), values[t][j].item<float>());
    fmt::print("position {} (token {}): top-5{}\n", t, ids[t], row);
  }
  return 0;
}

int tokenize(const Args& a) {
  auto tokenizer = load_tokenizer(a.target);
  std::ifstream in(a.get("--in"));
  DSRL_CHECK(in.good(), "cannot read --in '{}'", a.get("--in"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<int32_t> ids = tokenizer->encode(line);
    fmt::print("{}\n", fmt::join(ids, " "));
  }
  return 0;
}

int generate_text(const Args& a) {
  std::string tokenizer_path = a.get("--tokenizer");
  if (tokenizer_path.empty())
    tokenizer_path = std::filesystem::exists(a.target + "/tokenizer.json") ? a.target : "byte";
  auto tokenizer = load_tokenizer(tokenizer_path);
  DeepseekV32 model = load(a);
  DSRL_CHECK(tokenizer->vocab_size() <= model->config().vocab_size, "tokenizer {} has {} tokens but the model only {}",
             tokenizer_path, tokenizer->vocab_size(), model->config().vocab_size);
  std::string text = a.get("--prompt");
  if (a.flags.count("--chat")) text = render_chat({ChatMessage{"user", text, "", {}}}, ChatOptions{});
  std::vector<int32_t> ids = tokenizer->encode(text);
  GenerateOptions o;
  o.max_new_tokens = static_cast<int64_t>(number(a, "--max-new", 64));
  o.sampling.temperature = number(a, "--temperature", 1.0);
  o.sampling.top_p = number(a, "--top-p", 1.0);
  o.sampling.top_k = static_cast<int64_t>(number(a, "--top-k", 0));
  o.seed = static_cast<uint64_t>(number(a, "--seed", 0));
  o.stop_token_ids = {model->config().eos_token_id};
  o.vocab_limit = tokenizer->vocab_size();
  Generation g = generate(model, {std::vector<int64_t>(ids.begin(), ids.end())}, o)[0];
  double total_logprob = 0;
  for (float lp : g.logprobs) total_logprob += lp;
  fmt::print("{}\n", tokenizer->decode(std::vector<int32_t>(g.tokens.begin(), g.tokens.end())));
  fmt::print(stderr, "[{} prompt tokens, {} generated ({}), {}; sum log-prob {:.3f}]\n", ids.size(), g.tokens.size(),
             fmt::join(g.tokens, " "), g.stopped ? "stopped at eos" : "hit --max-new", total_logprob);
  return 0;
}

}  // namespace
}  // namespace dsrl

int main(int argc, char** argv) {
  using namespace dsrl;
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  try {
    Args a = parse_args(argc, argv);
    if (a.command == "init") return init(a);
    if (a.command == "info") return info(a);
    if (a.command == "logits") return logits(a);
    if (a.command == "tokenize") return tokenize(a);
    if (a.command == "generate") return generate_text(a);
    DSRL_FAIL("unknown command '{}'\n{}", a.command, kUsage);
  } catch (const std::exception& e) {
    std::cerr << "dsrl-model: " << e.what() << std::endl;
    return 2;
  }
}
