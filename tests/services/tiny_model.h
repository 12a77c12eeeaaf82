// Test helper: a tiny checkpoint (configs/model/tiny.yaml: vocab 264, 4 layers of which 3 MoE, index_topk 64, seed 4)
// made once per test process with dsrl-model, for the tests that start dsrl-rollout. The including target defines
// DSRL_MODEL_BIN and DSRL_SOURCE_DIR.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "tests/services/process.h"

namespace dsrl::testing {

inline const std::string& tiny_checkpoint() {
  static const std::string dir = [] {
    std::string d = std::filesystem::temp_directory_path() / ("dsrl_tiny_ckpt_" + std::to_string(getpid()));
    RunResult r = run_process(DSRL_MODEL_BIN, {"init", d, "--config", std::string(DSRL_SOURCE_DIR) +
                              "/configs/model/tiny.yaml", "--seed", "4"});
    if (r.exit_code != 0) throw std::runtime_error("dsrl-model init failed: " + r.err);
    return d;
  }();
  return dir;
}

}  // namespace dsrl::testing
