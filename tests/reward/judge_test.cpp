// The judge signal and the meta-verifier in the scorer, with a scripted JudgeBackend: prompt rendering, score
// parsing and normalisation, per-item rubrics, failed and unparsable judgements (drop or fail_batch), counts.
// The same over a real gRPC judge server is in tests/reward/reward_service_test.cpp.
#include <gtest/gtest.h>

#include <functional>

#include "common/config.h"
#include "reward/judge.h"
#include "reward/scorer.h"
#include "tests/reward/scorer_helpers.h"

namespace dsrl {
namespace {

// Answers each prompt with script(prompt); records what it was asked.
class ScriptedJudge : public JudgeBackend {
 public:
  explicit ScriptedJudge(std::function<Judgement(const std::string&)> script) : script_(std::move(script)) {}
  std::vector<Judgement> judge(const std::vector<std::string>& prompts) override {
    asked.insert(asked.end(), prompts.begin(), prompts.end());
    ++calls;
    std::vector<Judgement> out;
    for (const auto& p : prompts) out.push_back(script_(p));
    return out;
  }
  std::vector<std::string> asked;
  int calls = 0;

 private:
  std::function<Judgement(const std::string&)> script_;
};

RewardServiceConfig config_of(const std::string& yaml) { return testing::reward_config(yaml); }

const char* kJudged = R"(
task_types:
  chat:
    weights: {judge: 2.0, format: 1.0}
    format: {require_think: false}
  proof_verifier:
    weights: {math_verifier: 1.0}
    format: {require_think: false}
    math_v2: {meta_verifier: true}
judge:
  prompt: "R={rubric} Q={prompt} A={response} REF={reference}"
  default_rubric: be fair
  score_min: 1
  score_max: 5
)";

ScoreItem chat(const std::string& id, const std::string& response, const std::string& rubric = "") {
  ScoreItem i = testing::score_item(id, "chat", response);
  i.prompt = "why?";
  i.rubric = rubric;
  return i;
}

using testing::signal;

TEST(JudgePrompt, ReplacesTheFourFieldsOnceAndKeepsOtherBraces) {
  EXPECT_EQ(render_judge_prompt("{prompt}|{response}|{reference}|{rubric}|\\boxed{score}|{other}", "p", "r {rubric}",
                                "ref", "rb"),
            "p|r {rubric}|ref|rb|\\boxed{score}|{other}")
      << "a response that contains a placeholder is not expanded again";
}

TEST(JudgeScore, LastBoxedNumberWithinTheScaleNormalised) {
  EXPECT_DOUBLE_EQ(parse_judge_score("ok \\boxed{7}", 0, 10), 0.7);
  EXPECT_DOUBLE_EQ(parse_judge_score("first \\boxed{2} then \\boxed{ 4.5 }", 1, 5), 0.875);
  EXPECT_DOUBLE_EQ(parse_judge_score("\\boxed{$1$}", 0, 1), 1.0);
  EXPECT_DOUBLE_EQ(parse_judge_score("\\boxed{0}", 0, 10), 0.0);
  auto fails = [](const std::string& reply, const std::string& why) {
    try {
      parse_judge_score(reply, 0, 10);
      ADD_FAILURE() << "accepted '" << reply << "'";
    } catch (const JudgeError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  fails("I think it deserves a 7", "no \\boxed{score}");
  fails("\\boxed{seven}", "\\boxed{seven} is not a number");
  fails("\\boxed{7/10}", "is not a number");
  fails("\\boxed{\\frac{1}{2}}", "is not a number");
  fails("\\boxed{11}", "judge score 11 outside the scale [0, 10]");
  fails("\\boxed{-1}", "outside the scale");
  fails("\\boxed{nan}", "is not a number");
  fails("\\boxed{7", "no \\boxed{score}");
}

TEST(ScorerJudge, ScoresFromTheJudgeWithTheItemsRubric) {
  ScriptedJudge judge([](const std::string& p) {
    return Judgement{p.find("A=great") != std::string::npos ? "fine work \\boxed{5}" : "meh \\boxed{2}", ""};
  });
  Scorer scorer(config_of(kJudged), &judge);
  auto r = scorer.score({chat("a", "great", "cite sources"), chat("b", "poor")});
  ASSERT_EQ(r[0].error, "");
  EXPECT_DOUBLE_EQ(signal(r[0], "judge"), 1.0);
  EXPECT_DOUBLE_EQ(signal(r[1], "judge"), 0.25);
  EXPECT_DOUBLE_EQ(r[1].total, 2 * 0.25 + 1.0);
  ASSERT_EQ(judge.asked.size(), 2u);
  EXPECT_EQ(judge.calls, 1) << "a batch's judgements go to the backend together";
  EXPECT_EQ(judge.asked[0], "R=cite sources Q=why? A=great REF=");
  EXPECT_EQ(judge.asked[1], "R=be fair Q=why? A=poor REF=") << "no rubric: the default one";
  EXPECT_EQ(scorer.judgements(), 2u);
  EXPECT_EQ(scorer.judgements_failed(), 0u);
  EXPECT_GT(scorer.items_per_second(), 0);
}

TEST(ScorerJudge, FailedOrUnparsableJudgementsAreItemErrorsNeverZero) {
  ScriptedJudge judge([](const std::string& p) {
    if (p.find("A=down") != std::string::npos) return Judgement{"", "judge at x failed after 3 attempts: UNAVAILABLE"};
    if (p.find("A=rambling") != std::string::npos) return Judgement{"it is good, I would say 4", ""};
    return Judgement{"\\boxed{3}", ""};
  });
  Scorer scorer(config_of(kJudged), &judge);
  auto r = scorer.score({chat("ok", "fine"), chat("down", "down"), chat("rambling", "rambling")});
  EXPECT_EQ(r[0].error, "");
  EXPECT_DOUBLE_EQ(signal(r[0], "judge"), 0.5);
  EXPECT_EQ(r[1].error, "signal judge: judge at x failed after 3 attempts: UNAVAILABLE");
  EXPECT_NE(r[2].error.find("signal judge: judge reply has no \\boxed{score}: 'it is good, I would say 4'"),
            std::string::npos) << r[2].error;
  for (int i : {1, 2}) {
    EXPECT_TRUE(r[i].judge_failed);
    EXPECT_TRUE(r[i].signals.empty()) << "no partial total";
    EXPECT_EQ(r[i].total, 0);
  }
  EXPECT_EQ(scorer.judgements_failed(), 2u);
  EXPECT_EQ(scorer.items_failed(), 2u);
  // fail_batch: the whole call fails instead, naming the first item.
  Scorer strict(config_of(std::string(kJudged) + "  on_failure: fail_batch\n"), &judge);
  try {
    strict.score({chat("ok", "fine"), chat("down", "down")});
    ADD_FAILURE() << "fail_batch scored a batch with a failed judgement";
  } catch (const JudgeUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("1 of 2 items could not be judged (judge.on_failure: fail_batch), first "
                                         "'down'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(strict.items_scored(), 0u);
  EXPECT_EQ(strict.score({chat("ok", "fine")})[0].error, "") << "and scores once the judge answers";
}

TEST(ScorerJudge, MetaVerifierScalesTheVerifierReward) {
  const std::string analysis =
      "Here is my evaluation of the solution: step 2 is wrong. Based on my evaluation, the final overall score "
      "should be: \\boxed{0}";
  ScriptedJudge judge([](const std::string&) { return Judgement{"partly \\boxed{0.5}", ""}; });
  Scorer scorer(config_of(kJudged), &judge);
  ScoreItem v;
  v.id = "v";
  v.task_type = "proof_verifier";
  v.prompt = "Problem and proof";
  v.response = analysis;
  v.reference_answer = "0";
  ScoreItem broken = v;
  broken.id = "broken";
  broken.response = "no template at all";
  auto r = scorer.score({v, broken});
  ASSERT_EQ(r[0].error, "");
  EXPECT_DOUBLE_EQ(signal(r[0], "meta"), 0.5);
  EXPECT_DOUBLE_EQ(signal(r[0], "math_verifier"), 1.0 * 1.0 * 0.5) << "R_format 1, R_score 1 - |0 - 0|, R_meta 0.5";
  EXPECT_DOUBLE_EQ(signal(r[1], "math_verifier"), 0.0) << "R_format 0";
  ASSERT_EQ(judge.asked.size(), 1u) << "a broken analysis is not sent to the meta-verifier";
  EXPECT_NE(judge.asked[0].find("Problem and proof"), std::string::npos);
  EXPECT_NE(judge.asked[0].find("step 2 is wrong"), std::string::npos);
}

}  // namespace
}  // namespace dsrl
