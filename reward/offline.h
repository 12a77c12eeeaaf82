// `dsrl-reward score --config reward.yaml --in items.jsonl --out scores.jsonl`: the scoring library over a file,
// one RewardItem as JSON per line in, one ItemScore as JSON per line out (proto field names).
#pragma once

#include <string>

#include "reward/scorer.h"

namespace dsrl {

// Scores `in` into `out`, in batches; returns how many items failed. Throws dsrl::Error naming the file and line
// of a malformed input line.
int64_t score_file(Scorer& scorer, const std::string& in, const std::string& out);

}  // namespace dsrl
