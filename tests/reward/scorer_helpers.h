// Shared by the scoring library's tests: a config from YAML text, an item, a signal's value.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/config.h"
#include "reward/scorer.h"

namespace dsrl::testing {

inline RewardServiceConfig reward_config(const std::string& yaml) {
  return parse_config<RewardServiceConfig>(YAML::Load(yaml), "reward.yaml");
}

inline ScoreItem score_item(const std::string& id, const std::string& type, const std::string& response,
                            const std::string& reference = "") {
  ScoreItem i;
  i.id = id;
  i.task_type = type;
  i.response = response;
  i.reference_answer = reference;
  return i;
}

// The value of signal `name` in a result; a test failure (and -99) when it is missing.
inline double signal(const ItemResult& r, const std::string& name) {
  for (const auto& [n, v] : r.signals)
    if (n == name) return v;
  ADD_FAILURE() << "no signal " << name << " in item " << r.id << " (error: " << r.error << ")";
  return -99;
}

}  // namespace dsrl::testing
