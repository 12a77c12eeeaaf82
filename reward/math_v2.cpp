#include "reward/math_v2.h"

#include <cmath>

#include "reward/answer.h"

namespace dsrl {

std::optional<double> verifier_score(const std::string& text, const VerifierTemplate& t) {
  const size_t eval = text.find(t.evaluation_marker);
  if (eval == std::string::npos) return std::nullopt;
  const size_t score = text.find(t.score_marker, eval + t.evaluation_marker.size());
  if (score == std::string::npos) return std::nullopt;
  std::optional<std::string> boxed = last_boxed(text.substr(score + t.score_marker.size()));
  if (!boxed) return std::nullopt;
  for (double allowed : {0.0, 0.5, 1.0})
    if (answers_equivalent(*boxed, allowed == 0.5 ? "0.5" : allowed == 0 ? "0" : "1", MatchOptions{1e-9, true}))
      return allowed;
  return std::nullopt;
}

double score_agreement(double predicted, double actual) { return 1.0 - std::abs(predicted - actual); }

double verifier_reward(const std::string& output, double annotated, double meta, const VerifierTemplate& t) {
  const std::optional<double> s = verifier_score(output, t);
  return s ? score_agreement(*s, annotated) * meta : 0.0;
}

bool split_generator_output(const std::string& response, const VerifierTemplate& t, std::string* proof,
                            std::string* analysis) {
  const size_t at = response.rfind(t.evaluation_marker);
  if (at == std::string::npos) return false;
  *proof = response.substr(0, at);
  *analysis = response.substr(at);
  return proof->find_first_not_of(" \t\r\n") != std::string::npos;
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
