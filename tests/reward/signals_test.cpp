// Format, length and language signals at their boundaries; DeepSeekMath-V2 rewards on worked examples.
#include <gtest/gtest.h>

#include <stdexcept>

#include "reward/math_v2.h"
#include "reward/signals.h"

namespace dsrl {
namespace {

TEST(FormatSignal, ThinkBlockThenAnswer) {
  EXPECT_EQ(format_score("<think>a</think> \\boxed{1}", true, "boxed"), 1);
  EXPECT_EQ(format_score("reasoning</think>\\boxed{1}", true, "boxed"), 1) << "the template may open <think>";
  EXPECT_EQ(format_score("  <think>a</think>x", true, "none"), 1);
  EXPECT_EQ(format_score("<think>a</think>", true, "none"), 0) << "no answer";
  EXPECT_EQ(format_score("<think>a</think>  \n", true, "none"), 0) << "a blank answer";
  EXPECT_EQ(format_score("<think>a</think>b</think>c", true, "none"), 0) << "two closings";
  EXPECT_EQ(format_score("<think>a<think>b</think>c", true, "none"), 0) << "two openings";
  EXPECT_EQ(format_score("x<think>a</think>c", true, "none"), 0) << "<think> not at the start";
  EXPECT_EQ(format_score("no think at all", true, "none"), 0);
  EXPECT_EQ(format_score("<think>a</think> 42", true, "boxed"), 0) << "the boxed wrapper is missing";
  EXPECT_EQ(format_score("<think>\\boxed{1}</think> 42", true, "boxed"), 0) << "a box in the reasoning does not count";
  EXPECT_EQ(format_score("<think>a</think>\nAnswer: 3", true, "answer_line"), 1);
  EXPECT_EQ(format_score("no think at all", false, "none"), 1);
  EXPECT_EQ(format_score("", false, "none"), 0);
}

TEST(LengthSignal, Boundaries) {
  EXPECT_EQ(length_penalty("none", 99999, 100, 10), 0);
  EXPECT_EQ(length_penalty("linear", 100, 100, 0), 0);
  EXPECT_DOUBLE_EQ(length_penalty("linear", 150, 100, 0), -0.5);
  EXPECT_EQ(length_penalty("linear", 200, 100, 0), -1);
  EXPECT_EQ(length_penalty("linear", 500, 100, 0), -1);
  // Soft overlong: L_max 100, L_cache 20: free up to 80, -1 from 100 on.
  EXPECT_EQ(length_penalty("overlong", 80, 100, 20), 0);
  EXPECT_DOUBLE_EQ(length_penalty("overlong", 81, 100, 20), -0.05);
  EXPECT_DOUBLE_EQ(length_penalty("overlong", 90, 100, 20), -0.5);
  EXPECT_DOUBLE_EQ(length_penalty("overlong", 100, 100, 20), -1);
  EXPECT_EQ(length_penalty("overlong", 101, 100, 20), -1);
  EXPECT_EQ(length_penalty("overlong", 0, 100, 20), 0);
  EXPECT_THROW(length_penalty("quadratic", 1, 100, 0), std::invalid_argument);
}

TEST(LanguageSignal, ShareOfLettersInTheTargetScript) {
  EXPECT_DOUBLE_EQ(language_share("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c", "zh"), 1.0);  // 你好世界
  EXPECT_DOUBLE_EQ(language_share("\xe4\xbd\xa0\xe5\xa5\xbd ab", "zh"), 0.5);                       // 你好 ab
  EXPECT_DOUBLE_EQ(language_share("hello world", "zh"), 0.0);
  EXPECT_DOUBLE_EQ(language_share("hello world", "en"), 1.0);
  EXPECT_DOUBLE_EQ(language_share("hello world", "en-US"), 1.0);
  EXPECT_DOUBLE_EQ(language_share("\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "ru"), 1.0);  // привет
  EXPECT_DOUBLE_EQ(language_share("\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7", "ar"), 1.0);            // مرحبا
  EXPECT_DOUBLE_EQ(language_share("\xe3\x81\x93\xe3\x82\x8c\xe6\x97\xa5\xe6\x9c\xac", "ja"), 1.0);  // これ日本
  EXPECT_DOUBLE_EQ(language_share("\xec\x95\x88\xeb\x85\x95", "ko"), 1.0);                          // 안녕
  // Code, math, digits and punctuation are not language.
  EXPECT_DOUBLE_EQ(language_share("\xe4\xbd\xa0\xe5\xa5\xbd $x + y = z$ `print(x)` 123 !!", "zh"), 1.0);
  EXPECT_DOUBLE_EQ(language_share("\xe4\xbd\xa0\xe5\xa5\xbd\n```python\nfor i in range(3): pass\n```\n", "zh"), 1.0);
  EXPECT_DOUBLE_EQ(language_share("\xe4\xbd\xa0 \\(abc\\) \\[def\\] $$gh$$", "zh"), 1.0);
  EXPECT_DOUBLE_EQ(language_share("12345 + - * /", "zh"), 1.0) << "no letters: nothing to hold against it";
  EXPECT_DOUBLE_EQ(language_share("caf\xc3\xa9", "fr"), 1.0) << "accented Latin";
  EXPECT_THROW(language_share("x", "klingon"), std::invalid_argument);
}

TEST(LanguageSignal, ReasoningAndAnswerParts) {
  const std::string r = "<think>\xe6\x80\x9d\xe8\x80\x83 think</think>\xe7\xad\x94";  // <think>思考 think</think>答
  EXPECT_EQ(reasoning_part(r), "\xe6\x80\x9d\xe8\x80\x83 think");
  EXPECT_EQ(after_reasoning(r), "\xe7\xad\x94");
  EXPECT_DOUBLE_EQ(language_share(reasoning_part(r), "zh"), 2.0 / 7.0);
  EXPECT_EQ(reasoning_part("no think"), "");
  EXPECT_EQ(after_reasoning("no think"), "no think");
}

// DeepSeekMath-V2, worked examples with the default template.
const VerifierTemplate kT;
std::string verifier_text(const std::string& score) {
  return "Here is my evaluation of the solution: step 2 is unjustified. "
         "Based on my evaluation, the final overall score should be: \\boxed{" + score + "}";
}

TEST(MathV2, VerifierReward) {
  EXPECT_EQ(verifier_score(verifier_text("0.5"), kT), 0.5);
  EXPECT_EQ(verifier_score(verifier_text("1"), kT), 1.0);
  EXPECT_EQ(verifier_score(verifier_text("0.7"), kT), std::nullopt) << "only 0, 0.5 or 1";
  EXPECT_EQ(verifier_score("Based on my evaluation, the final overall score should be: \\boxed{1}", kT), std::nullopt)
      << "the evaluation marker is missing";
  EXPECT_EQ(verifier_score("Here is my evaluation of the solution: fine. \\boxed{1}", kT), std::nullopt);
  // R = R_format x (1 - |s' - s|) x meta
  EXPECT_DOUBLE_EQ(verifier_reward(verifier_text("0.5"), 0.5, 1.0, kT), 1.0);
  EXPECT_DOUBLE_EQ(verifier_reward(verifier_text("0.5"), 1.0, 1.0, kT), 0.5);
  EXPECT_DOUBLE_EQ(verifier_reward(verifier_text("0"), 1.0, 1.0, kT), 0.0);
  EXPECT_DOUBLE_EQ(verifier_reward(verifier_text("1"), 1.0, 0.5, kT), 0.5) << "the meta-verifier multiplies in";
  EXPECT_DOUBLE_EQ(verifier_reward("score: \\boxed{1}", 1.0, 1.0, kT), 0.0) << "R_format 0";
}

TEST(MathV2, GeneratorReward) {
  const std::string good = "Proof. By induction ... QED.\n" + verifier_text("1");
  // R = alpha R_Y + beta R_score(s', R_Y) x meta: proof scored 1, self-score 1 -> 0.76 + 0.24 = 1.
  EXPECT_DOUBLE_EQ(generator_reward(good, 1.0, 1.0, {}, kT), 1.0);
  // Proof scored 0.5 by the verifier, self-score 1: 0.76 * 0.5 + 0.24 * 0.5 = 0.5.
  EXPECT_DOUBLE_EQ(generator_reward(good, 0.5, 1.0, {}, kT), 0.5);
  // Proof scored 0, honest self-score 0: 0 + 0.24 * 1 = 0.24; overconfident self-score 1: 0.
  EXPECT_DOUBLE_EQ(generator_reward("Proof. ...\n" + verifier_text("0"), 0.0, 1.0, {}, kT), 0.24);
  EXPECT_DOUBLE_EQ(generator_reward(good, 0.0, 1.0, {}, kT), 0.0);
  EXPECT_DOUBLE_EQ(generator_reward(good, 1.0, 0.5, {}, kT), 0.76 + 0.24 * 0.5) << "meta on the self-analysis";
  EXPECT_DOUBLE_EQ(generator_reward(good, 1.0, 1.0, {0.5, 0.5}, kT), 1.0);
  EXPECT_DOUBLE_EQ(generator_reward(verifier_text("1"), 1.0, 1.0, {}, kT), 0.0) << "no proof before the analysis";
  EXPECT_DOUBLE_EQ(generator_reward("Proof only.", 1.0, 1.0, {}, kT), 0.0) << "no self-analysis";
}

}  // namespace
}  // namespace dsrl
