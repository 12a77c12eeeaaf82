#include "reward/config.h"

#include "common/config.h"
#include "common/answer.h"

namespace dsrl {

void describe(ConfigIO& io, SignalWeights& c) {
  for (auto [key, value] : {std::pair<const char*, double*>{"rule", &c.rule}, {"format", &c.format},
                            {"length", &c.length}, {"language", &c.language},
                            {"language_reasoning", &c.language_reasoning}, {"judge", &c.judge},
                            {"math_verifier", &c.math_verifier}, {"math_generator", &c.math_generator},
                            {"code_tests", &c.code_tests}})
    io.field(key, *value, -1e6, 1e6);
}

void describe(ConfigIO& io, RuleConfig& c) {
  io.field("extract", c.extract);
  io.field("tolerance", c.tolerance, 0.0, 1.0);
  io.field("case_insensitive", c.case_insensitive);
  if (!io.reading()) return;
  if (c.extract.empty()) io.fail("extract", "needs at least one extractor (boxed, answer_line, last_number)");
  for (const auto& e : c.extract) {
    const auto& known = answer_extractors();
    if (std::find(known.begin(), known.end(), e) == known.end())
      io.fail("extract", fmt::format("unknown extractor '{}' (known: boxed, answer_line, last_number)", e));
  }
}

void describe(ConfigIO& io, FormatConfig& c) {
  io.field("require_think", c.require_think);
  io.choice("wrapper", c.wrapper, {"none", "boxed", "answer_line"});
}

void describe(ConfigIO& io, LengthConfig& c) {
  io.choice("mode", c.mode, {"none", "linear", "overlong"});
  io.field("budget", c.budget, int64_t{0}, int64_t{1} << 30);
  io.field("cache", c.cache, int64_t{0}, int64_t{1} << 30);
  if (io.reading() && c.mode == "overlong" && c.cache > c.budget)
    io.fail("cache", fmt::format("must be <= budget ({}), got {}", c.budget, c.cache));
}

void describe(ConfigIO& io, MathV2Config& c) {
  io.field("evaluation_marker", c.evaluation_marker);
  io.field("score_marker", c.score_marker);
  io.field("alpha", c.alpha, 0.0, 1e6);
  io.field("beta", c.beta, 0.0, 1e6);
  io.field("meta_verifier", c.meta_verifier);
  io.choice("proof_score", c.proof_score, {"reference", "derivation"});
}

void describe(ConfigIO& io, TaskTypeConfig& c) {
  io.section("weights", c.weights);
  io.section("rule", c.rule);
  io.section("format", c.format);
  io.section("length", c.length);
  io.section("math_v2", c.math_v2);
  io.section("code_tests", c.code_tests);
}

void describe(ConfigIO& io, RewardServiceConfig& c) {
  io.section("server", c.server);
  io.section("log", c.log);
  io.map("task_types", c.task_types);
  io.section("judge", c.judge);
  io.section("client_auth", c.client_auth);
  io.field("threads", c.threads, 1, 256);
  io.field("max_items", c.max_items, int64_t{1}, int64_t{1} << 30);
  io.field("max_text_bytes", c.max_text_bytes, int64_t{1}, int64_t{1} << 34);
}

}  // namespace dsrl
