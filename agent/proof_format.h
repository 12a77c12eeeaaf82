// DeepSeekMath-V2's proof-analysis format (plain C++): how a verifier's analysis, and a generator's proof with its
// self-analysis, are laid out and read. The reward service scores with it (reward/math_v2.h) and the trainer's
// refinement eval reads scores with it (trainer/refine_stage.h).
//
// An analysis reads "<evaluation marker> findings ... <score marker> \boxed{s}" with s in {0, 0.5, 1}.
// A generator's response is a proof Y followed by a self-analysis Z in that format (Z starts at the last
// evaluation marker).
#pragma once

#include <optional>
#include <string>

namespace dsrl {

struct VerifierTemplate {
  std::string evaluation_marker = "Here is my evaluation of the solution:";
  std::string score_marker = "Based on my evaluation, the final overall score should be:";
};

// The score s of an analysis: the \boxed{} after the score marker, when the evaluation marker comes first and the
// score is 0, 0.5 or 1 (1/2 and 0.50 read as 0.5). nullopt when the format is broken.
std::optional<double> verifier_score(const std::string& text, const VerifierTemplate& t);

// R_score(s', s) = 1 - |s' - s|.
double score_agreement(double predicted, double actual);

// Splits a generator response into the proof Y (before the last evaluation marker) and its self-analysis Z.
// False when there is no marker or Y is blank.
bool split_generator_output(const std::string& response, const VerifierTemplate& t, std::string* proof,
                            std::string* analysis);

// The text after the reasoning: after the last </think>, or all of it when there is none.
std::string after_reasoning(const std::string& response);

// The proof Y and self-analysis Z of a generator's response: the text after its reasoning (after the last
// </think>, when there is one) split as split_generator_output does; all of that text is Y, and Z is empty, when
// it has no evaluation marker.
struct ProofAndAnalysis {
  std::string proof, analysis;
};
ProofAndAnalysis proof_and_analysis(const std::string& response, const VerifierTemplate& t);

// `prompt_template` with each {problem}, {proof} and {analysis} replaced (the role prompts of docs/proofs.md).
std::string fill_role_prompt(const std::string& prompt_template, const std::string& problem,
                             const std::string& proof = "", const std::string& analysis = "");

}  // namespace dsrl
