#include "model/checkpoint.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "model/checkpoint_io.h"

namespace dsrl {
namespace {

// "model.layers.3.mlp.experts.gate_proj" -> per-expert names "model.layers.3.mlp.experts.{e}.gate_proj.weight".
bool is_stacked_expert(const std::string& name, std::string& prefix, std::string& leaf) {
  const std::string marker = ".mlp.experts.";
  const size_t at = name.find(marker);
  if (at == std::string::npos) return false;
  prefix = name.substr(0, at + marker.size());
  leaf = name.substr(at + marker.size());
  return leaf == "gate_proj" || leaf == "up_proj" || leaf == "down_proj";
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> checkpoint_tensors(DeepseekV32& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto add = [&](const std::string& name, const at::Tensor& tensor) {
    std::string prefix, leaf;
    if (!is_stacked_expert(name, prefix, leaf)) {
      out.emplace_back(name, tensor);
      return;
    }
    for (int64_t e = 0; e < tensor.size(0); ++e)
      out.emplace_back(prefix + std::to_string(e) + "." + leaf + ".weight", tensor[e]);
  };
  for (const auto& p : model->named_parameters()) add(p.key(), p.value());
  for (const auto& b : model->named_buffers()) add(b.key(), b.value());
  return out;
}

void load_weights(DeepseekV32& model, const std::string& folder) {
  CheckpointReader reader(folder);
  at::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& [name, tensor] : checkpoint_tensors(model)) {
    if (!reader.has(name))
      DSRL_FAIL("checkpoint {} has no tensor {} (it holds {} tensors; is it a DeepseekV32 checkpoint matching its "
                "config.json?)", folder, name, reader.names().size());
    reader.load_into(name, tensor);
    used.insert(name);
  }
  std::vector<std::string> unused;
  for (const auto& name : reader.names())
    if (!used.count(name)) unused.push_back(name);
  if (!unused.empty())
    logger("model")->warn("{}: skipped {} tensors the model does not use, e.g. {}", folder, unused.size(), unused[0]);
}

DeepseekV32 load_model(const std::string& folder, const at::Device& device, at::ScalarType dtype) {
  DeepseekV32 model(load_model_config(folder));
  cast_model(model, device, dtype);
  load_weights(model, folder);
  return model;
}

DeepseekV32 load_model_source(const ModelSourceConfig& source, const at::Device& device, at::ScalarType dtype) {
  DSRL_CHECK(!source.checkpoint.empty() || !source.config.empty(),
             "model needs model.checkpoint (a folder) or model.config (a model config to initialise)");
  if (!source.checkpoint.empty()) return load_model(source.checkpoint, device, dtype);
  DeepseekV32 model(load_model_config(source.config));
  init_weights(model, source.init_seed);
  cast_model(model, device, dtype);
  return model;
}

void save_model(DeepseekV32& model, const std::string& folder, at::ScalarType dtype, uint64_t max_shard_bytes) {
  std::filesystem::create_directories(folder);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, tensor] : checkpoint_tensors(model)) {
    const bool keep = dtype == at::ScalarType::Undefined || name.find("e_score_correction_bias") != std::string::npos;
    tensors.emplace_back(name, (keep ? tensor : tensor.to(dtype)).detach().cpu().contiguous());  // bias stays fp32
  }
  save_checkpoint_tensors(folder, tensors, max_shard_bytes);
  save_model_config(model->config(), folder + "/config.json");
}

}  // namespace dsrl
