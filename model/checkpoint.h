// Model checkpoints in HF's layout: a folder with config.json and safetensors (one file or sharded with an index),
// parameter names as HF DeepseekV32ForCausalLM has them, so the folder loads in transformers and HF checkpoints
// load here.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "common/model_source.h"
#include "model/transformer.h"

namespace dsrl {

// Every tensor of the model under its checkpoint name: parameters and the router's correction bias. Routed experts
// are stored stacked here and named per expert there (model.layers.3.mlp.experts.7.gate_proj.weight is a view of
// slice 7 of our stacked gate_proj), so these are views: copying into them loads the model.
std::vector<std::pair<std::string, at::Tensor>> checkpoint_tensors(DeepseekV32& model);

// Builds the model from `folder`/config.json and loads its weights onto `device` in `dtype` (fp32 router and
// indexer weights stay fp32). Missing tensors or shape mismatches are errors naming the file and the tensor;
// tensors the model does not use (e.g. multi-token-prediction layers) are logged and skipped.
DeepseekV32 load_model(const std::string& folder, const at::Device& device, at::ScalarType dtype);

// The model a `model:` config section names: the checkpoint folder when set, else a random initialisation of
// `config` with `init_seed`; on `device` in `dtype` (fp32 where DeepSeek keeps it).
DeepseekV32 load_model_source(const ModelSourceConfig& source, const at::Device& device, at::ScalarType dtype);

// Loads the weights of `folder` into an existing model (its config must match): the same checks as load_model.
void load_weights(DeepseekV32& model, const std::string& folder);

// Writes config.json and the weights (converted to `dtype`, or as they are when dtype is Undefined) to `folder`.
void save_model(DeepseekV32& model, const std::string& folder, at::ScalarType dtype = at::ScalarType::Undefined,
                uint64_t max_shard_bytes = 5ull << 30);

}  // namespace dsrl
