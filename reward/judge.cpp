#include "reward/judge.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "common/config.h"
#include "common/answer.h"

namespace dsrl {

void describe(ConfigIO& io, JudgeConfig& c) {
  io.field("endpoint", c.endpoint);
  io.field("tokenizer", c.tokenizer);
  io.field("prompt", c.prompt);
  io.field("default_rubric", c.default_rubric);
  io.field("score_min", c.score_min, -1e9, 1e9);
  io.field("score_max", c.score_max, -1e9, 1e9);
  io.field("meta_prompt", c.meta_prompt);
  io.field("temperature", c.temperature, 0.0, 100.0);
  io.field("max_new_tokens", c.max_new_tokens, int64_t{1}, int64_t{1} << 24);
  io.field("stop_token_ids", c.stop_token_ids);
  io.field("batch_size", c.batch_size, int64_t{1}, int64_t{1} << 20);
  io.field("concurrency", c.concurrency, int64_t{1}, int64_t{1024});
  io.field("timeout_s", c.timeout_s, 1e-3, 1e6);
  io.field("retries", c.retries, int64_t{0}, int64_t{100});
  io.field("backoff_s", c.backoff_s, 0.0, 3600.0);
  io.choice("on_failure", c.on_failure, {"drop", "fail_batch"});
  if (!io.reading()) return;
  if (!(c.score_max > c.score_min))
    io.fail("score_max", fmt::format("must be above score_min ({}), got {}", c.score_min, c.score_max));
  if (c.prompt.find("{response}") == std::string::npos)
    io.fail("prompt", "must contain {response}: the judge would never see what it grades");
  if (c.meta_prompt.find("{response}") == std::string::npos)
    io.fail("meta_prompt", "must contain {response}: the meta-verifier would never see the analysis");
}

std::string render_judge_prompt(const std::string& templ, const std::string& prompt, const std::string& response,
                                const std::string& reference, const std::string& rubric) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"{prompt}", &prompt}, {"{response}", &response}, {"{reference}", &reference}, {"{rubric}", &rubric}};
  std::string out;
  size_t i = 0;
  while (i < templ.size()) {
    bool replaced = false;
    for (const auto& [name, value] : fields) {
      const size_t n = std::char_traits<char>::length(name);
      if (templ.compare(i, n, name) == 0) {
        out += *value;
        i += n;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += templ[i++];
  }
  return out;
}

double parse_judge_score(const std::string& reply, double min, double max) {
  const std::string tail = reply.size() > 80 ? "..." + reply.substr(reply.size() - 80) : reply;
  const auto boxed = last_boxed(reply);
  if (!boxed) throw JudgeError(fmt::format("judge reply has no \\boxed{{score}}: '{}'", tail));
  std::string text = *boxed;
  const auto first = text.find_first_not_of(" \t\n$"), last = text.find_last_not_of(" \t\n$");
  text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  errno = 0;
  char* end = nullptr;
  const double s = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !std::isfinite(s))
    throw JudgeError(fmt::format("judge score \\boxed{{{}}} is not a number: '{}'", *boxed, tail));
  if (s < min || s > max)
    throw JudgeError(fmt::format("judge score {} outside the scale [{}, {}]: '{}'", s, min, max, tail));
  return (s - min) / (max - min);
}

}  // namespace dsrl
