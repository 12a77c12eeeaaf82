// The scorer: signals per task type, weights, per-item errors, batch errors, parallel scoring, the config's checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/code_tasks.h"
#include "common/config.h"
#include "common/error.h"
#include "reward/offline.h"
#include "reward/scorer.h"
#include "tests/reward/scorer_helpers.h"

namespace dsrl {
namespace {

RewardServiceConfig config_of(const std::string& yaml) { return testing::reward_config(yaml); }

const char* kConfig = R"(
threads: 2
max_text_bytes: 1000
task_types:
  math:
    weights: {rule: 1.0, format: 0.5, length: 1.0}
    format: {wrapper: boxed}
    length: {mode: overlong, budget: 100, cache: 20}
  zh:
    weights: {language: 1.0, language_reasoning: 2.0}
  judged:
    weights: {judge: 1.0}
)";

ScoreItem item(const std::string& id, const std::string& type, const std::string& response, const std::string& ref) {
  return testing::score_item(id, type, response, ref);
}

using testing::signal;

TEST(Scorer, WeightedSignalsPerTaskType) {
  Scorer scorer(config_of(kConfig));
  ScoreItem right = item("a", "math", "<think>2+2</think> so \\boxed{4}", "4");
  right.response_tokens = 90;  // into the overlong ramp: -0.5
  ScoreItem wrong = item("b", "math", "<think>hmm</think> 5", "4");
  wrong.response_tokens = 10;
  ScoreItem chinese = item("c", "zh", "<think>\xe6\x80\x9d\xe8\x80\x83 ab</think>\xe7\xad\x94", "");  // 思考 ab / 答
  chinese.target_language = "zh";
  auto r = scorer.score({right, wrong, chinese});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].error, "");
  EXPECT_EQ(signal(r[0], "rule"), 1);
  EXPECT_EQ(signal(r[0], "format"), 1);
  EXPECT_DOUBLE_EQ(signal(r[0], "length"), -0.5);
  EXPECT_DOUBLE_EQ(r[0].total, 1 + 0.5 - 0.5);
  EXPECT_EQ(signal(r[1], "rule"), 0);
  EXPECT_EQ(signal(r[1], "format"), 0) << "no box";
  EXPECT_DOUBLE_EQ(r[1].total, 0);
  EXPECT_DOUBLE_EQ(signal(r[2], "language"), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(signal(r[2], "language_reasoning"), 0.5);
  EXPECT_DOUBLE_EQ(r[2].total, 0.6 + 2 * 0.5);
  EXPECT_EQ(scorer.items_scored(), 3u);
  EXPECT_EQ(scorer.items_failed(), 0u);
}

TEST(Scorer, ItemProblemsAreItemErrors) {
  Scorer scorer(config_of(kConfig));
  ScoreItem no_ref = item("1", "math", "\\boxed{4}", "");
  ScoreItem unknown = item("2", "poetry", "x", "y");
  ScoreItem big = item("3", "math", std::string(2000, 'x'), "4");
  ScoreItem no_lang = item("4", "zh", "x", "");
  ScoreItem bad_lang = item("5", "zh", "x", "");
  bad_lang.target_language = "tlh";
  ScoreItem judged = item("6", "judged", "x", "");
  auto r = scorer.score({no_ref, unknown, big, no_lang, bad_lang, judged});
  EXPECT_NE(r[0].error.find("signal rule needs a reference_answer"), std::string::npos) << r[0].error;
  EXPECT_NE(r[1].error.find("unknown task_type 'poetry' (the config knows: judged, math, zh)"), std::string::npos)
      << r[1].error;
  EXPECT_NE(r[2].error.find("response has 2000 bytes, above max_text_bytes 1000"), std::string::npos) << r[2].error;
  EXPECT_NE(r[3].error.find("needs a target_language"), std::string::npos) << r[3].error;
  EXPECT_NE(r[4].error.find("unknown target_language 'tlh'"), std::string::npos) << r[4].error;
  EXPECT_NE(r[5].error.find("signal judge: no judge is configured: set judge.endpoint"), std::string::npos) << r[5].error;
  EXPECT_TRUE(r[5].judge_failed);
  for (const auto& x : r) {
    EXPECT_EQ(x.total, 0);
    EXPECT_TRUE(x.signals.empty());
  }
  EXPECT_EQ(scorer.items_failed(), 6u);
}

TEST(Scorer, BatchProblemsThrow) {
  Scorer scorer(config_of(kConfig));
  EXPECT_THROW(scorer.score({}), BatchError);
  try {
    scorer.score({item("x", "math", "1", "1"), item("x", "math", "2", "2")});
    ADD_FAILURE();
  } catch (const BatchError& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate item id 'x'"), std::string::npos);
  }
}

TEST(Scorer, ParallelScoringKeepsOrder) {
  Scorer scorer(config_of(kConfig));
  std::vector<ScoreItem> items;
  for (int i = 0; i < 5000; ++i)
    items.push_back(item(std::to_string(i), "math", "<think>.</think>\\boxed{" + std::to_string(i % 7) + "}", "3"));
  auto r = scorer.score(items);
  for (int i = 0; i < 5000; ++i) {
    EXPECT_EQ(r[i].id, std::to_string(i));
    EXPECT_EQ(signal(r[i], "rule"), i % 7 == 3 ? 1 : 0);
  }
}

// code_tests: the hidden tests (reference_answer) run beside the item's files in the sandbox.
TEST(Scorer, CodeTestsRunTheHiddenTestsBesideTheFiles) {
  Scorer scorer(config_of("task_types: {code: {weights: {code_tests: 1.0}, code_tests: {wall_seconds: 2}}}"));
  const CodeTask t = make_code_tasks(1, 5)[0];
  auto code_item = [&](const std::string& id, std::map<std::string, std::string> files) {
    ScoreItem i = item(id, "code", "The tests pass now.", t.hidden_tests);
    i.files = std::move(files);
    return i;
  };
  std::map<std::string, std::string> fixed = t.files;
  fixed["solution.py"] = t.fixed_solution;
  std::map<std::string, std::string> endless = t.files;
  endless["solution.py"] = "while True: pass\n";  // until the wall-clock limit
  ScoreItem no_tests = code_item("no_tests", fixed);
  no_tests.reference_answer = "";
  auto r = scorer.score({code_item("buggy", t.files), code_item("fixed", fixed), code_item("none", {}),
                         code_item("escape", {{"../solution.py", t.fixed_solution}}), no_tests,
                         code_item("endless", endless)});
  EXPECT_EQ(signal(r[0], "code_tests"), 0);
  EXPECT_EQ(signal(r[1], "code_tests"), 1);
  EXPECT_DOUBLE_EQ(r[1].total, 1);
  EXPECT_NE(r[2].error.find("needs the repository in files"), std::string::npos) << r[2].error;
  EXPECT_NE(r[3].error.find("'../solution.py' is not a relative path inside"), std::string::npos) << r[3].error;
  EXPECT_NE(r[4].error.find("needs the hidden tests in reference_answer"), std::string::npos) << r[4].error;
  EXPECT_EQ(signal(r[5], "code_tests"), 0) << "killed at the wall-clock limit";
  try {
    Scorer bad(config_of("task_types: {code: {weights: {code_tests: 1.0}, code_tests: {interpreter: /no/python3}}}"));
    ADD_FAILURE() << "a code_tests interpreter that does not exist must fail at start";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("task_types.code.code_tests"), std::string::npos) << e.what();
  }
}

TEST(RewardConfig, RejectsBadSettings) {
  auto error = [](const std::string& yaml) {
    try {
      config_of(yaml);
      return std::string();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_NE(error("task_types: {m: {weights: {rul: 1}}}").find("unknown key task_types.m.weights.rul"), std::string::npos);
  EXPECT_NE(error("task_types: {m: {rule: {extract: [boxed, guess]}}}").find("unknown extractor 'guess'"),
            std::string::npos);
  EXPECT_NE(error("task_types: {m: {length: {mode: cubic}}}").find("length.mode must be one of"), std::string::npos);
  EXPECT_NE(error("task_types: {m: {length: {mode: overlong, budget: 10, cache: 20}}}").find("must be <= budget"),
            std::string::npos);
  EXPECT_NE(error("task_types: {m: {format: {wrapper: xml}}}").find("format.wrapper must be one of"), std::string::npos);
  EXPECT_NE(error("judge: {score_min: 5, score_max: 5}").find("judge.score_max must be above score_min (5), got 5"),
            std::string::npos) << error("judge: {score_min: 5, score_max: 5}");
  EXPECT_NE(error("judge: {prompt: 'grade {prompt}'}").find("judge.prompt must contain {response}"), std::string::npos);
  EXPECT_NE(error("judge: {on_failure: ignore}").find("judge.on_failure must be one of"), std::string::npos);
  EXPECT_EQ(error(kConfig), "");
}

TEST(OfflineScoring, ScoresAFileAndNamesBadLines) {
  Scorer scorer(config_of(kConfig));
  const auto dir = std::filesystem::temp_directory_path() / ("dsrl_offline_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string in = (dir / "items.jsonl").string(), out = (dir / "scores.jsonl").string();
  std::ofstream(in) << R"({"id": "a", "task_type": "math", "response": "<think>.</think>\\boxed{4}", "reference_answer": "4"})"
                    << "\n\n"
                    << R"({"task_type": "poetry", "response": "x"})" << "\n";
  EXPECT_EQ(score_file(scorer, in, out), 1);
  std::ifstream got(out);
  std::string first, second;
  std::getline(got, first);
  std::getline(got, second);
  EXPECT_NE(first.find(R"("id":"a")"), std::string::npos) << first;
  EXPECT_NE(first.find(R"("rule":1.0)"), std::string::npos) << first;
  EXPECT_NE(second.find(R"("id":"3")"), std::string::npos) << "an item without id gets its line number: " << second;
  EXPECT_NE(second.find("unknown task_type"), std::string::npos) << second;
  std::ofstream(in) << R"({"id": "a", "task_typ": "math"})" << "\n";
  try {
    score_file(scorer, in, out);
    ADD_FAILURE();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(in + ":1: unknown field 'task_typ'"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dsrl
