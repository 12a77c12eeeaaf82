// DeepSeekMath-V2 self-verification rewards (plain C++).
//
// A verifier writes an analysis of a proof in a fixed template and ends with a score s' in {0, 0.5, 1}:
//   "<evaluation marker> ... <score marker> \boxed{s'}"
// Its reward is R_format x R_score(s', s) [x R_meta], with R_score = 1 - |s' - s|, s the annotated score and
// R_meta the meta-verifier's judgement of the analysis (when configured).
// A generator writes a proof Y followed by a self-analysis Z in the verifier's template. Its reward is
//   R_format(Y, Z) x (alpha R_Y + beta R_Z),  R_Z = R_score(s', s) x R_meta(Z),
// with R_Y = s the verifier's score of Y and s' the score Z gives itself (alpha 0.76, beta 0.24 by default).
#pragma once

#include <optional>
#include <string>

namespace dsrl {

struct VerifierTemplate {
  std::string evaluation_marker = "Here is my evaluation of the solution:";
  std::string score_marker = "Based on my evaluation, the final overall score should be:";
};

// The score s' of a verifier-format text: the \boxed{} after the score marker, when the evaluation marker comes
// first and the score is 0, 0.5 or 1. nullopt when the format is broken.
std::optional<double> verifier_score(const std::string& text, const VerifierTemplate& t);

// R_score(s', s) = 1 - |s' - s|.
double score_agreement(double predicted, double actual);

// The verifier's reward: R_format x R_score(s', s) x meta (pass meta = 1 when no meta-verifier is configured).
double verifier_reward(const std::string& output, double annotated, double meta, const VerifierTemplate& t);

struct GeneratorWeights {
  double alpha = 0.76;  // weight of the proof's score R_Y
  double beta = 0.24;   // weight of the self-analysis' reward R_Z
};

// Splits a generator response into the proof Y (before the evaluation marker) and its self-analysis Z.
bool split_generator_output(const std::string& response, const VerifierTemplate& t, std::string* proof,
                            std::string* analysis);

// The generator's reward: R_format(Y, Z) x (alpha R_Y + beta R_score(s', R_Y) x meta_z). proof_score is R_Y.
double generator_reward(const std::string& response, double proof_score, double meta_z, const GeneratorWeights& w,
                        const VerifierTemplate& t);

}  // namespace dsrl
