#include "trainer/train_checkpoint.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/file_manifest.h"
#include "common/log.h"
#include "model/checkpoint.h"
#include "model/checkpoint_io.h"
#include "model/safetensors.h"

namespace dsrl {
namespace fs = std::filesystem;
namespace {

std::string step_name(int64_t step) { return fmt::format("step-{:08d}", step); }

// Checkpoint folders under run_dir/checkpoints, oldest first (names sort by step).
std::vector<fs::path> checkpoint_dirs(const std::string& run_dir) {
  std::vector<fs::path> dirs;
  const fs::path root = fs::path(run_dir) / "checkpoints";
  if (!fs::exists(root)) return dirs;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && name.find(".tmp") == std::string::npos)
      dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  DSRL_CHECK(in.good(), "cannot read {}", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void save_train_checkpoint(const std::string& run_dir, DeepseekV32& model, AdamW& optimizer,
                           const TrainState& state, int64_t keep) {
  const fs::path final_dir = fs::path(run_dir) / "checkpoints" / step_name(state.step);
  const fs::path tmp = final_dir.string() + ".tmp" + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  save_model(model, (tmp / "model").string());
  std::vector<std::pair<std::string, at::Tensor>> moments;
  for (size_t i = 0; i < optimizer.exp_avg().size(); ++i) {
    moments.emplace_back("exp_avg." + std::to_string(i), optimizer.exp_avg()[i]);
    moments.emplace_back("exp_avg_sq." + std::to_string(i), optimizer.exp_avg_sq()[i]);
    moments.emplace_back("step." + std::to_string(i), optimizer.steps()[i].reshape({1}));
  }
  save_checkpoint_tensors((tmp / "optimizer").string(), moments);
  nlohmann::json meta = {{"step", state.step}, {"data_position", nlohmann::json::parse(state.data.to_json())}};
  if (!state.stage_state.empty()) meta["stage_state"] = nlohmann::json::parse(state.stage_state);
  write_file_atomic((tmp / kManifestName).string(), file_manifest_json(tmp.string()));
  write_file_atomic((tmp / "trainer_state.json").string(), meta.dump(2) + "\n");
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  std::vector<fs::path> dirs = checkpoint_dirs(run_dir);
  for (size_t i = 0; i + keep < dirs.size(); ++i) fs::remove_all(dirs[i]);
  logger("trainer")->info("checkpoint {} written", final_dir.string());
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  std::vector<fs::path> dirs = checkpoint_dirs(run_dir);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    try {
      nlohmann::json meta = nlohmann::json::parse(read_text(*it / "trainer_state.json"));
      DSRL_CHECK(meta.contains("step") && meta.contains("data_position"), "trainer_state.json lacks step or position");
      if (has_file_manifest(it->string()))
        check_file_manifest(it->string());  // every file's size and crc32c
      else
        logger("trainer")->warn("{} has no {} (written before checkpoints had one): checking headers only",
                                it->string(), kManifestName);
      CheckpointReader model((*it / "model").string());  // validates every weight file's header and size
      CheckpointReader moments((*it / "optimizer").string());
      return it->string();
    } catch (const std::exception& e) {
      logger("trainer")->warn("skipping checkpoint {}: {}", it->string(), e.what());
    }
  }
  return std::nullopt;
}

TrainState load_train_checkpoint(const std::string& dir, DeepseekV32& model, AdamW& optimizer) {
  load_weights(model, dir + "/model");
  CheckpointReader moments(dir + "/optimizer");
  for (size_t i = 0; i < optimizer.exp_avg().size(); ++i) {
    moments.load_into("exp_avg." + std::to_string(i), optimizer.exp_avg()[i]);
    moments.load_into("exp_avg_sq." + std::to_string(i), optimizer.exp_avg_sq()[i]);
    moments.load_into("step." + std::to_string(i), optimizer.steps()[i].reshape({1}));
  }
  nlohmann::json meta = nlohmann::json::parse(read_text(fs::path(dir) / "trainer_state.json"));
  TrainState state;
  state.step = meta.at("step").get<int64_t>();
  state.data = DataPosition::from_json(meta.at("data_position").dump(), dir + "/trainer_state.json");
  if (meta.contains("stage_state")) state.stage_state = meta["stage_state"].dump();
  return state;
}

}  // namespace dsrl
