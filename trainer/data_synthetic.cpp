#include "trainer/data_synthetic.h"

#include <cstdio>

#include "common/error.h"
#include "model/chat.h"
#include "trainer/data_rng.h"

namespace dsrl {

namespace {

constexpr const char* kArithmeticPrefix = "What is ";
constexpr const char* kCopyPrefix = "Copy this string exactly: ";
constexpr const char* kReversePrefix = "Reverse this string: ";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string trim(std::string s) {
  const std::string eos(dsv32::kEos);
  const char* space = " \t\r\n";
  s.erase(s.find_last_not_of(space) + 1);
  if (s.size() >= eos.size() && s.compare(s.size() - eos.size(), eos.size(), eos) == 0) s.resize(s.size() - eos.size());
  s.erase(s.find_last_not_of(space) + 1);
  s.erase(0, std::min(s.size(), s.find_first_not_of(space)));
  return s;
}

std::string letters(DataRng& rng, int max_length) {
  std::string s(static_cast<size_t>(rng.range(1, max_length)), 'a');
  for (char& c : s) c = static_cast<char>('a' + rng.below(26));
  return s;
}

std::optional<std::string> arithmetic_answer(const std::string& question) {
  long long a = 0, b = 0;
  char op = 0, tail = 0;
  int used = 0;
  const std::string rest = question.substr(std::string(kArithmeticPrefix).size());
  if (std::sscanf(rest.c_str(), "%lld %c %lld%c%n", &a, &op, &b, &tail, &used) != 4 || tail != '?' ||
      used != static_cast<int>(rest.size()))
    return std::nullopt;
  if (op == '+') return std::to_string(a + b);
  if (op == '-') return std::to_string(a - b);
  if (op == '*') return std::to_string(a * b);
  return std::nullopt;
}

SyntheticExample arithmetic(DataRng& rng, int max_value) {
  const int64_t a = rng.range(0, max_value), b = rng.range(0, max_value);
  const char op = "+-*"[rng.below(3)];
  const std::string question = fmt::format("{}{} {} {}?", kArithmeticPrefix, a, op, b);
  return {question, *arithmetic_answer(question)};
}

}  // namespace

const std::vector<std::string>& synthetic_tasks() {
  static const std::vector<std::string> tasks = {"arithmetic", "copy", "reverse"};
  return tasks;
}

std::vector<SyntheticExample> make_synthetic(const SyntheticConfig& config) {
  DSRL_CHECK(config.count >= 1, "data.synthetic.count must be >= 1, got {}", config.count);
  DataRng rng(config.seed, /*stream=*/0x5157);
  std::vector<SyntheticExample> out;
  out.reserve(static_cast<size_t>(config.count));
  for (int64_t i = 0; i < config.count; ++i) {
    if (config.task == "arithmetic") {
      out.push_back(arithmetic(rng, config.max_value));
    } else if (config.task == "copy" || config.task == "reverse") {
      const std::string s = letters(rng, config.max_length);
      const std::string question = (config.task == "copy" ? kCopyPrefix : kReversePrefix) + s;
      out.push_back({question, *expected_answer(config.task, question)});
    } else {
      DSRL_FAIL("data.synthetic.task must be one of arithmetic, copy, reverse, got '{}'", config.task);
    }
  }
  return out;
}

std::vector<Document> synthetic_documents(const SyntheticConfig& config) {
  std::vector<Document> docs;
  for (const SyntheticExample& e : make_synthetic(config)) docs.push_back(chat_document(e.question, e.answer));
  return docs;
}

std::optional<std::string> expected_answer(const std::string& task, const std::string& question) {
  if (task == "arithmetic" && starts_with(question, kArithmeticPrefix)) return arithmetic_answer(question);
  if (task == "copy" && starts_with(question, kCopyPrefix)) return question.substr(std::string(kCopyPrefix).size());
  if (task == "reverse" && starts_with(question, kReversePrefix)) {
    std::string s = question.substr(std::string(kReversePrefix).size());
    return std::string(s.rbegin(), s.rend());
  }
  return std::nullopt;
}

bool check_answer(const std::string& task, const std::string& question, const std::string& answer) {
  const std::optional<std::string> expected = expected_answer(task, question);
  return expected.has_value() && trim(answer) == *expected;
}

}  // namespace dsrl
