#include "reward/math_v2.h"

#include <optional>

namespace dsrl {

double verifier_reward(const std::string& output, double annotated, double meta, const VerifierTemplate& t) {
  const std::optional<double> s = verifier_score(output, t);
  return s ? score_agreement(*s, annotated) * meta : 0.0;
}

double generator_reward(const std::string& response, double proof_score, double meta_z, const GeneratorWeights& w,
                        const VerifierTemplate& t) {
  std::string proof, analysis;
  if (!split_generator_output(response, t, &proof, &analysis)) return 0.0;
  const std::optional<double> self = verifier_score(analysis, t);
  if (!self) return 0.0;
  const double r_z = score_agreement(*self, proof_score) * meta_z;
  return w.alpha * proof_score + w.beta * r_z;
}

}  // namespace dsrl
