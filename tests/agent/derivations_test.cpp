// Arithmetic derivations, the built-in proof task of DeepSeekMath-V2 self-verification: the grader on hand-written
// proofs (each issue it names, one-step reductions read structurally), the generated claims and planted flaws, and
// the analyses and role prompts in the verifier format.
#include <gtest/gtest.h>

#include "agent/derivations.h"
#include "agent/proof_format.h"
#include "common/error.h"

namespace dsrl {
namespace {

ProofGrade grade(const std::string& claim, const std::string& proof) {
  std::string why;
  const auto c = parse_claim(claim, &why);
  EXPECT_TRUE(c.has_value()) << claim << ": " << why;
  return c ? grade_derivation(*c, proof) : ProofGrade{};
}

void expect_grade(const ProofGrade& g, double score, int line, const std::string& issue, const char* note = "") {
  EXPECT_EQ(g.score, score) << g.issue << " " << note;
  EXPECT_EQ(g.line, line) << g.issue << " " << note;
  EXPECT_EQ(g.issue, issue) << note;
}

TEST(Derivations, GradesHandWrittenProofs) {
  const std::string claim = "(7 + 5) * 3 - 4 = 32";
  expect_grade(grade(claim, "(7 + 5) * 3 - 4\n= 12 * 3 - 4\n= 36 - 4\n= 32"), 1, 0, "");
  expect_grade(grade(claim, "= 12 * 3 - 4\n\n  = 36 - 4  \n= 32\n"), 1, 0, "", "restating is optional");
  expect_grade(grade(claim, "=12*3-4\n=36-4\n=32"), 1, 0, "", "spacing does not matter");
  expect_grade(grade(claim, "= 12 * 3 - 4\n= 38 - 4\n= 34"), 0, 2, "Line 2 is wrong: it equals 34, not 32.");
  expect_grade(grade(claim, "= 12 * 3 - 4\n= 32"), 0.5, 2, "Line 2 skips a step.");
  expect_grade(grade(claim, "= 36 - 4\n= 31"), 0, 2, "Line 2 is wrong: it equals 31, not 32.",
               "a wrong step outranks an earlier skip");
  expect_grade(grade(claim, "= 12 * 3 - 4\n= 36 - 4"), 0, 2, "The proof stops before reaching 32.");
  expect_grade(grade(claim, "= 12 * 3 - 4\n= thirty-two"), 0, 2, "Line 2 is not an expression.");
  expect_grade(grade(claim, "= 12 * 3 - 4)\n= 32"), 0, 1, "Line 1 is not an expression.");
  expect_grade(grade(claim, " \n\n"), 0, 0, "There is no proof.");
}

TEST(Derivations, AStepIsOneReadyOperationOfTheTree) {
  const std::string claim = "(1 + 2) * (3 + 4) = 21";
  expect_grade(grade(claim, "= 3 * (3 + 4)\n= 3 * 7\n= 21"), 1, 0, "");
  expect_grade(grade(claim, "= (1 + 2) * 7\n= (3) * 7\n= 21"), 1, 0, "", "either ready operation; (3) is 3");
  expect_grade(grade(claim, "= 20 + 1\n= 21"), 0.5, 1, "Line 1 skips a step.", "same value, not a reduction");
  expect_grade(grade(claim, "= 3 * 7\n= 21"), 0.5, 1, "Line 1 skips a step.");
  expect_grade(grade("2 + 3 * 4 = 14", "= 5 * 4\n= 20"), 0, 1, "Line 1 is wrong: it equals 20, not 14.",
               "precedence: 2 + 3 is not ready");
  expect_grade(grade("9 - 4 - 2 = 3", "= 9 - 2\n= 7"), 0, 1, "Line 1 is wrong: it equals 7, not 3.",
               "left associative");
  expect_grade(grade("9 - 4 - 2 = 3", "= 5 - 2\n= 3"), 1, 0, "");
}

TEST(Derivations, ParsesClaimsAndNamesWhatIsWrong) {
  const auto c = parse_claim("(7+5)*3-4 = 32");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->expression, "(7 + 5) * 3 - 4");
  EXPECT_EQ(c->text(), "(7 + 5) * 3 - 4 = 32");
  std::string why;
  EXPECT_FALSE(parse_claim("1 + 2 = 4", &why));
  EXPECT_EQ(why, "the expression equals 3, not 4");
  EXPECT_FALSE(parse_claim("1 + 2", &why));
  EXPECT_NE(why.find("no '='"), std::string::npos) << why;
  EXPECT_FALSE(parse_claim("one + 2 = 3", &why));
  EXPECT_NE(why.find("'one + 2 ' is not an expression"), std::string::npos) << why;
  EXPECT_FALSE(parse_claim("99999999999 * 99999999999 * 99999999999 = 1", &why));
  EXPECT_NE(why.find("overflows"), std::string::npos) << why;
  EXPECT_THROW(grade_derivation(DerivationClaim{"1 + 2", 4}, "= 3"), Error) << "a false claim is a caller's bug";
}

TEST(Derivations, GeneratedClaimsAndPlantedFlawsGradeAsPlanted) {
  for (int ops = 1; ops <= 6; ++ops) {
    const auto claims = make_derivation_claims(50, ops, 7);
    EXPECT_EQ(claims.size(), 50u);
    std::mt19937_64 rng(ops);
    for (const DerivationClaim& c : claims) {
      int operators = 0;
      for (char ch : c.expression) operators += ch == '+' || ch == '-' || ch == '*';
      EXPECT_EQ(operators, ops) << c.expression;
      EXPECT_TRUE(c.value >= 0 && c.value <= 99) << c.text();
      ASSERT_TRUE(parse_claim(c.text()).has_value()) << c.text();
      const std::string rigorous = derivation_proof(c, ProofFlaw::none, rng);
      expect_grade(grade_derivation(c, rigorous), 1, 0, "");
      const ProofGrade wrong = grade_derivation(c, derivation_proof(c, ProofFlaw::wrong_step, rng));
      if (wrong.score != 1) {  // a planted offset that no operand reaches is left out (a product with 0)
        EXPECT_EQ(wrong.score, 0) << c.text();
        EXPECT_NE(wrong.issue.find("is wrong"), std::string::npos) << wrong.issue;
      }
      const ProofGrade skipped = grade_derivation(c, derivation_proof(c, ProofFlaw::skipped_step, rng));
      EXPECT_EQ(skipped.score, ops >= 2 ? 0.5 : 1) << c.text();
    }
  }
  EXPECT_EQ(make_derivation_claims(5, 3, 1)[4].text(), make_derivation_claims(5, 3, 1)[4].text()) << "seeded";
  EXPECT_NE(make_derivation_claims(5, 3, 1)[4].text(), make_derivation_claims(5, 3, 2)[4].text());
  EXPECT_THROW(make_derivation_claims(5, 7, 1), Error);
  EXPECT_THROW(make_derivation_claims(0, 2, 1), Error);
}

TEST(Derivations, AnalysesAndRolePromptsUseTheVerifierFormat) {
  const VerifierTemplate t;
  for (const ProofGrade& g : {ProofGrade{1, 0, ""}, ProofGrade{0.5, 2, "Line 2 skips a step."},
                              ProofGrade{0, 1, "Line 1 is wrong: it equals 20, not 14."}}) {
    const std::string analysis = derivation_analysis(g);
    EXPECT_EQ(verifier_score(analysis, t), g.score) << analysis;
    EXPECT_NE(analysis.find(g.issue.empty() ? "Every line applies one operation correctly." : g.issue),
              std::string::npos);
    std::string proof, self;
    EXPECT_TRUE(split_generator_output("= 3\n" + analysis, t, &proof, &self));
    EXPECT_EQ(self, analysis);
  }
  EXPECT_EQ(fill_role_prompt("{problem}|{proof}|{analysis}|{problem}{other}", "P", "Y", "Z"), "P|Y|Z|P{other}");
  const std::string verifier = fill_role_prompt(kDerivationVerifierPrompt, "1 + 2 = 3", "= 3", "");
  EXPECT_NE(verifier.find("Check this proof that 1 + 2 = 3:\n= 3"), std::string::npos) << verifier;
  const std::string revision = fill_role_prompt(kDerivationRevisionPrompt, "1 + 2 = 3", "= 4", "Z");
  EXPECT_NE(revision.find("proof:\n= 4\nZ\n\nWrite a corrected proof that 1 + 2 = 3."), std::string::npos)
      << revision;
  EXPECT_EQ(std::string(kDerivationGeneratorPrompt).find("{proof}"), std::string::npos);
}

}  // namespace
}  // namespace dsrl
