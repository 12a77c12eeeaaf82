// Training checkpoints: <run_dir>/checkpoints/step-00000042/ holding
//   model/              config.json + safetensors (HF layout: the next stage's model.checkpoint)
//   optimizer/          AdamW moments and step counts (safetensors)
//   manifest.json       size and crc32c of every file above (common/file_manifest.h)
//   trainer_state.json  {"step": 42, "data_position": {...}[, "stage_state": {...}]}, written last: a folder
//                       without it is incomplete
// Written by rank 0 into a temporary folder, then renamed; only the newest `keep` are kept.
#pragma once

#include <optional>
#include <string>

#include "model/transformer.h"
#include "trainer/adamw.h"
#include "trainer/data_loader.h"

namespace dsrl {

struct TrainState {
  int64_t step = 0;           // optimizer steps done
  DataPosition data;          // where the next batch starts
  std::string stage_state;    // a stage's own state as a JSON object (grpo: prompt position, policy version);
                              // empty: none
};

void save_train_checkpoint(const std::string& run_dir, DeepseekV32& model, AdamW& optimizer,
                           const TrainState& state, int64_t keep);

// The newest checkpoint that is complete and intact, or nullopt. Each candidate's files are checked against its
// manifest (size and crc32c) and its weight files' headers; one that fails is logged (naming the folder, the file
// and the problem) and skipped.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Restores model weights and optimizer state; returns the trainer state.
TrainState load_train_checkpoint(const std::string& dir, DeepseekV32& model, AdamW& optimizer);

}  // namespace dsrl
