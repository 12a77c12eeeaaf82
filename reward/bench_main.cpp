// dsrl-bench-reward: rule-only scoring throughput of the scoring library (scripts/bench/reward.sh). Generates N
// short math items (boxed integers, decimals, fractions, percentages, tuples, half of them right), scores them with
// 1 and with `threads` threads, and prints one JSON line per run. --dump FILE also writes the items as JSONL for
// the Python baseline.
//   dsrl-bench-reward [--items 200000] [--threads 2] [--dump FILE]
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>

#include "reward/scorer.h"

namespace {

std::vector<dsrl::ScoreItem> make_items(int64_t n) {
  std::vector<dsrl::ScoreItem> items;
  items.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = (i * 7919) % 1000, b = (i * 104729) % 97 + 1;
    std::string reference, answer;
    switch (i % 5) {
      case 0: reference = std::to_string(a * 1000 + b); answer = std::to_string(a) + "," + (b < 10 ? "00" : b < 100 ? "0" : "") + std::to_string(b); break;
      case 1: reference = std::to_string(a) + ".5"; answer = std::to_string(a) + ".50"; break;
      case 2: reference = "\\frac{" + std::to_string(a) + "}{" + std::to_string(b) + "}"; answer = std::to_string(a) + "/" + std::to_string(b); break;
      case 3: reference = std::to_string(b) + "%"; answer = "0." + std::string(b < 10 ? "0" : "") + std::to_string(b); break;
      default: reference = "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; answer = "(" + std::to_string(a) + "," + std::to_string(b) + ")"; break;
    }
    if (i % 2) answer += "1";  // half are wrong
    dsrl::ScoreItem item;
    item.id = std::to_string(i);
    item.task_type = "math";
    item.response = "<think>Let me compute step by step.</think> The result is $\\boxed{" + answer + "}$.";
    item.reference_answer = reference;
    items.push_back(std::move(item));
  }
  return items;
}

double run(const std::vector<dsrl::ScoreItem>& items, int threads, int64_t* right) {
  dsrl::RewardServiceConfig config;
  config.threads = threads;
  config.max_items = static_cast<int64_t>(items.size());
  config.task_types["math"].weights.rule = 1.0;
  dsrl::Scorer scorer(config);
  const auto start = std::chrono::steady_clock::now();
  auto results = scorer.score(items);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  *right = 0;
  for (const auto& r : results) *right += r.total > 0.5;
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 200000;
  int threads = 2;
  std::string dump;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--items")) n = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dump")) dump = argv[i + 1];
    else {
      std::cerr << "dsrl-bench-reward: unknown flag " << argv[i] << "\n";
      return 2;
    }
  }
  const auto items = make_items(n);
  if (!dump.empty()) {
    std::ofstream out(dump);
    for (const auto& item : items)
      out << nlohmann::json{{"id", item.id}, {"response", item.response}, {"reference_answer", item.reference_answer}}.dump()
          << "\n";
  }
  for (int t : {1, threads}) {
    int64_t right = 0;
    const double seconds = run(items, t, &right);
    std::cout << "{\"impl\":\"dsrl\",\"threads\":" << t << ",\"items\":" << n << ",\"judged_right\":" << right
              << ",\"items_per_s\":" << static_cast<int64_t>(n / seconds)
              << ",\"items_per_s_per_thread\":" << static_cast<int64_t>(n / seconds / t) << "}" << std::endl;
  }
  return 0;
}
