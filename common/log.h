// Logging: one spdlog logger per library ("common", "trainer", "rollout", ...), all sharing one rank-tagged
// pattern:  [2026-11-23 06:30:54.123] [r0] [trainer] [info] step 12 loss 2.31
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace dsrl {

class ConfigIO;

// Where log lines go and how many. YAML section `log`.
struct LogConfig {
  std::string level = "info";  // one of trace, debug, info, warn, error, off
  std::string file;            // also append to this file (empty: stderr only)
};
void describe(ConfigIO& io, LogConfig& c);

// The rank a launcher gave this process (Open MPI, MPICH/PMI, Slurm), or 0 when none did.
int rank_from_env();

// Sets the pattern (tagged with `rank`), the level and the sinks of every logger, present and future.
void init_logging(const LogConfig& config, int rank);

// The logger of one library, created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& name);

}  // namespace dsrl
