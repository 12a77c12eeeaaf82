#include "tests/model/model_fixture.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <filesystem>
#include <stdexcept>

namespace dsrl::testing {

const std::string& hf_fixture_dir() {
  // Made once per build (and per version of the script) and shared by test processes: the first process to take
  // the lock generates it into a scratch folder and renames that into place; the others wait for the lock.
  static const std::string dir = [] {
    const std::string script = DSRL_SOURCE_DIR "/scripts/make-model-fixture.py";
    std::ifstream in(script);
    std::stringstream text;
    text << in.rdbuf();
    const std::string root = std::string(DSRL_BINARY_DIR) + "/fixtures";
    const std::string final_dir = root + "/hf-" + std::to_string(std::hash<std::string>()(text.str()));
    std::filesystem::create_directories(root);
    const int lock = ::open((final_dir + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + final_dir + ".lock");
    if (!std::filesystem::exists(final_dir)) {
      const std::string scratch = final_dir + ".tmp";
      const std::string command = "rm -rf " + scratch + " && python3 " + script + " " + scratch + " > " + scratch +
                                  ".log 2>&1";
      if (std::system(command.c_str()) != 0) {
        ::close(lock);
        throw std::runtime_error("scripts/make-model-fixture.py failed (is transformers installed? run "
                                 "scripts/install-deps.sh); see " + scratch + ".log");
      }
      std::filesystem::rename(scratch, final_dir);
    }
    ::close(lock);  // releases the lock
    return final_dir;
  }();
  return dir;
}

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 128;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.moe_intermediate_size = 32;
  c.num_hidden_layers = 3;
  c.first_k_dense_replace = 1;
  c.num_attention_heads = 4;
  c.q_lora_rank = 48;
  c.kv_lora_rank = 32;
  c.qk_nope_head_dim = 16;
  c.qk_rope_head_dim = 8;
  c.v_head_dim = 16;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 2;
  c.n_group = 4;
  c.topk_group = 2;
  c.index_n_heads = 8;
  c.index_head_dim = 16;
  c.index_topk = 16;
  c.max_position_embeddings = 128;
  return c;
}

DeepseekV32 tiny_model(const ModelConfig& config, uint64_t seed) {
  DeepseekV32 model(config);
  init_weights(model, seed);
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  for (auto& p : model->named_parameters()) {
    if (p.key().find("norm") != std::string::npos)
      p.value().add_(at::empty(p.value().sizes()).normal_(0, 0.2, gen));
    else
      p.value().mul_(4.0);  // 0.08 std: activations large enough that every path matters
  }
  for (auto& b : model->named_buffers()) b.value().normal_(0, 0.05, gen);
  return model;
}

}  // namespace dsrl::testing
