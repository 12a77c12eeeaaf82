// Where a model comes from: a checkpoint folder or a random initialisation of a model config. The `model:` YAML
// section of dsrl-train and dsrl-rollout. Plain (no torch), so torch-free configs can hold it.
#pragma once

#include <cstdint>
#include <string>

namespace dsrl {

class ConfigIO;

struct ModelSourceConfig {
  std::string checkpoint;  // folder with config.json + safetensors (HF layout); wins over `config` when set
  std::string config;      // model config (our YAML, e.g. configs/model/tiny.yaml, or a config.json) to initialise
  uint64_t init_seed = 0;  // seed of the random initialisation
};
void describe(ConfigIO& io, ModelSourceConfig& c);

}  // namespace dsrl
