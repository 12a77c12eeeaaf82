// DeepSeekMath-V2 rewards in the scorer on the built-in derivation task (agent/derivations.h), each path: the
// verifier against the annotated score, the generator with R_Y annotated (proof_score: reference) or graded by the
// derivation checker (proof_score: derivation), both with the meta-verifier's R_meta, and the item errors.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "agent/derivations.h"
#include "agent/proof_format.h"
#include "reward/judge.h"
#include "reward/scorer.h"
#include "tests/reward/scorer_helpers.h"

namespace dsrl {
namespace {

using testing::signal;

const char* kProofConfig = R"(
task_types:
  verifier:
    weights: {math_verifier: 1.0}
  generator:
    weights: {math_generator: 1.0}
    math_v2: {proof_score: derivation}
  generator_annotated:
    weights: {math_generator: 1.0}
  generator_meta:
    weights: {math_generator: 1.0}
    math_v2: {proof_score: derivation, meta_verifier: true}
  verifier_meta:
    weights: {math_verifier: 1.0}
    math_v2: {meta_verifier: true}
judge:
  meta_prompt: "META {prompt} || {response}"
)";

const DerivationClaim kClaim{"(7 + 5) * 3 - 4", 32};
const std::string kRigorous = "(7 + 5) * 3 - 4\n= 12 * 3 - 4\n= 36 - 4\n= 32";
const std::string kSkipped = "= 12 * 3 - 4\n= 32";
const std::string kWrong = "= 12 * 3 - 4\n= 38 - 4\n= 34";

// A proof followed by a self-analysis giving it `self_score` (its findings as the grader would write them).
std::string generated(const std::string& proof, double self_score) {
  ProofGrade g = grade_derivation(kClaim, proof);
  g.score = self_score;
  return "<think>one step at a time</think>" + proof + "\n" + derivation_analysis(g);
}

ScoreItem item(const std::string& id, const std::string& type, const std::string& response,
               const std::string& reference) {
  ScoreItem i = testing::score_item(id, type, response, reference);
  i.prompt = fill_role_prompt(kDerivationGeneratorPrompt, kClaim.text());
  return i;
}

TEST(ProofRewards, GeneratorGradedByTheDerivationChecker) {
  Scorer scorer(testing::reward_config(kProofConfig));
  const std::string claim = kClaim.text();
  const auto r = scorer.score({item("honest", "generator", generated(kRigorous, 1), claim),
                               item("overconfident", "generator", generated(kSkipped, 1), claim),
                               item("self_critical", "generator", generated(kWrong, 0), claim),
                               item("no_analysis", "generator", "<think>x</think>" + kRigorous, claim),
                               item("annotated", "generator_annotated", generated(kSkipped, 0.5), "0.5")});
  for (const auto& x : r) ASSERT_EQ(x.error, "") << x.id;
  EXPECT_EQ(signal(r[0], "proof_score"), 1);
  EXPECT_DOUBLE_EQ(r[0].total, 0.76 * 1 + 0.24 * 1);
  EXPECT_EQ(signal(r[1], "proof_score"), 0.5) << "a skipped step";
  EXPECT_DOUBLE_EQ(r[1].total, 0.76 * 0.5 + 0.24 * (1 - 0.5)) << "claims 1 for a 0.5 proof";
  EXPECT_EQ(signal(r[2], "proof_score"), 0);
  EXPECT_DOUBLE_EQ(r[2].total, 0.24) << "a wrong proof honestly scored 0 earns only beta";
  EXPECT_EQ(signal(r[3], "proof_score"), 1) << "the proof is graded even without a self-analysis";
  EXPECT_DOUBLE_EQ(r[3].total, 0) << "R_format(Y, Z) = 0";
  EXPECT_EQ(signal(r[4], "proof_score"), 0.5) << "R_Y from reference_answer";
  EXPECT_DOUBLE_EQ(r[4].total, 0.76 * 0.5 + 0.24);
}

TEST(ProofRewards, VerifierAgainstTheAnnotatedScoreOfPlantedFlaws) {
  Scorer scorer(testing::reward_config(kProofConfig));
  std::mt19937_64 rng(5);
  std::vector<ScoreItem> items;
  std::vector<double> expected;
  int n = 0;
  for (const DerivationClaim& c : make_derivation_claims(10, 3, 4)) {
    for (ProofFlaw flaw : {ProofFlaw::none, ProofFlaw::wrong_step, ProofFlaw::skipped_step}) {
      const ProofGrade truth = grade_derivation(c, derivation_proof(c, flaw, rng));
      for (double said : {0.0, 0.5, 1.0}) {
        ProofGrade claimed = truth;
        claimed.score = said;
        items.push_back(item(std::to_string(n++), "verifier", derivation_analysis(claimed),
                             fmt::format("{}", truth.score)));
        expected.push_back(1 - std::abs(said - truth.score));
      }
    }
  }
  const auto r = scorer.score(items);
  for (size_t i = 0; i < r.size(); ++i) {
    ASSERT_EQ(r[i].error, "") << i;
    EXPECT_DOUBLE_EQ(r[i].total, expected[i]) << items[i].response << " vs " << items[i].reference_answer;
  }
}

TEST(ProofRewards, BadReferencesAreItemErrors) {
  Scorer scorer(testing::reward_config(kProofConfig));
  const auto r = scorer.score({item("false", "generator", generated(kRigorous, 1), "(7 + 5) * 3 - 4 = 33"),
                               item("words", "generator", generated(kRigorous, 1), "thirty-two"),
                               item("score", "verifier", derivation_analysis({1, 0, ""}), "0.7"),
                               item("annotated", "generator_annotated", generated(kRigorous, 1), kClaim.text())});
  EXPECT_NE(r[0].error.find("needs reference_answer to be a true claim 'EXPR = V', got '(7 + 5) * 3 - 4 = 33': "
                            "the expression equals 32, not 33"), std::string::npos) << r[0].error;
  EXPECT_NE(r[1].error.find("no '='"), std::string::npos) << r[1].error;
  EXPECT_NE(r[2].error.find("reference_answer to be a score 0, 0.5 or 1, got '0.7'"), std::string::npos) << r[2].error;
  EXPECT_NE(r[3].error.find("signal math_generator needs reference_answer to be a score"), std::string::npos)
      << r[3].error;
  for (const auto& x : r) EXPECT_EQ(x.total, 0);
}

// Answers every meta-verification with 0.5 and remembers the prompts.
class HalfMeta : public JudgeBackend {
 public:
  std::vector<Judgement> judge(const std::vector<std::string>& prompts) override {
    asked.insert(asked.end(), prompts.begin(), prompts.end());
    return std::vector<Judgement>(prompts.size(), Judgement{"\\boxed{0.5}", ""});
  }
  std::vector<std::string> asked;
};

TEST(ProofRewards, MetaVerifierScalesTheAnalysisTermOnly) {
  HalfMeta meta;
  Scorer scorer(testing::reward_config(kProofConfig), &meta);
  const auto r = scorer.score({item("g", "generator_meta", generated(kSkipped, 0.5), kClaim.text()),
                               item("v", "verifier_meta", derivation_analysis(grade_derivation(kClaim, kWrong)), "0")});
  ASSERT_EQ(r[0].error, "");
  EXPECT_EQ(signal(r[0], "meta"), 0.5);
  EXPECT_DOUBLE_EQ(r[0].total, 0.76 * 0.5 + 0.24 * 1 * 0.5) << "alpha R_Y + beta R_score R_meta";
  EXPECT_DOUBLE_EQ(r[1].total, 1 * 0.5) << "R_format R_score R_meta";
  ASSERT_EQ(meta.asked.size(), 2u);
  EXPECT_NE(meta.asked[0].find("Proof:\n" + kSkipped), std::string::npos)
      << "the meta-verifier sees Y: " << meta.asked[0];
  EXPECT_NE(meta.asked[0].find("|| Here is my evaluation"), std::string::npos) << "and judges Z";
  EXPECT_NE(meta.asked[1].find("Line 2 is wrong"), std::string::npos) << meta.asked[1];
}

}  // namespace
}  // namespace dsrl
