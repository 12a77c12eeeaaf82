// The run directory of one job: resolved config, metrics.jsonl, checkpoints, logs. Only rank 0 writes here.
#pragma once

#include <string>

namespace dsrl {

struct TrainConfig;

// Resolves run_dir (empty: runs/<stage>-<UTC yyyymmdd-hhmmss>), creates it and writes config.yaml with the
// resolved config. Returns the directory.
std::string prepare_run_dir(const TrainConfig& config);

// Appends one JSON object (already serialised, one line) to <run_dir>/<file> (metrics.jsonl by default).
void append_metrics(const std::string& run_dir, const std::string& json_line,
                    const std::string& file = "metrics.jsonl");

}  // namespace dsrl
