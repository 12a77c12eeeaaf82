// DeepSeekMath-V2 self-verification rewards (plain C++), over the analysis format of agent/proof_format.h.
//
// A verifier writes an analysis of a proof ending in a score s' in {0, 0.5, 1}. Its reward is
//   R_format x R_score(s', s) [x R_meta],  R_score = 1 - |s' - s|,
// with s the annotated score and R_meta the meta-verifier's judgement of the analysis (when configured).
// A generator writes a proof Y followed by a self-analysis Z. Its reward is
//   R_format(Y, Z) x (alpha R_Y + beta R_Z),  R_Z = R_score(s', R_Y) x R_meta(Z),
// with R_Y the score of Y (annotated, or graded by a checker) and s' the score Z gives itself
// (alpha 0.76, beta 0.24 by default).
#pragma once

#include <string>

#include "agent/proof_format.h"

namespace dsrl {

// The verifier's reward: R_format x R_score(s', s) x meta (pass meta = 1 when no meta-verifier is configured).
double verifier_reward(const std::string& output, double annotated, double meta, const VerifierTemplate& t);

struct GeneratorWeights {
  double alpha = 0.76;  // weight of the proof's score R_Y
  double beta = 0.24;   // weight of the self-analysis' reward R_Z
};

// The generator's reward: R_format(Y, Z) x (alpha R_Y + beta R_score(s', R_Y) x meta_z). proof_score is R_Y.
double generator_reward(const std::string& response, double proof_score, double meta_z, const GeneratorWeights& w,
                        const VerifierTemplate& t);

}  // namespace dsrl
