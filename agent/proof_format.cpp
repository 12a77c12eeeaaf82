#include "agent/proof_format.h"

#include <cmath>

#include "common/answer.h"

namespace dsrl {

std::optional<double> verifier_score(const std::string& text, const VerifierTemplate& t) {
  const size_t eval = text.find(t.evaluation_marker);
  if (eval == std::string::npos) return std::nullopt;
  const size_t score = text.find(t.score_marker, eval + t.evaluation_marker.size());
  if (score == std::string::npos) return std::nullopt;
  std::optional<std::string> boxed = last_boxed(text.substr(score + t.score_marker.size()));
  if (!boxed) return std::nullopt;
  for (const char* allowed : {"0", "0.5", "1"})
    if (answers_equivalent(*boxed, allowed, MatchOptions{1e-9, true})) return std::stod(allowed);
  return std::nullopt;
}

double score_agreement(double predicted, double actual) { return 1.0 - std::abs(predicted - actual); }

bool split_generator_output(const std::string& response, const VerifierTemplate& t, std::string* proof,
                            std::string* analysis) {
  const size_t at = response.rfind(t.evaluation_marker);
  if (at == std::string::npos) return false;
  *proof = response.substr(0, at);
  *analysis = response.substr(at);
  return proof->find_first_not_of(" \t\r\n") != std::string::npos;
}

std::string after_reasoning(const std::string& response) {
  const size_t think_end = response.rfind("</think>");
  return think_end == std::string::npos ? response : response.substr(think_end + 8);
}

ProofAndAnalysis proof_and_analysis(const std::string& response, const VerifierTemplate& t) {
  const std::string answer = after_reasoning(response);
  ProofAndAnalysis out;
  if (!split_generator_output(answer, t, &out.proof, &out.analysis)) out = {answer, ""};
  return out;
}

std::string fill_role_prompt(const std::string& prompt_template, const std::string& problem,
                             const std::string& proof, const std::string& analysis) {
  std::string out;
  for (size_t i = 0; i < prompt_template.size();) {
    bool replaced = false;
    for (auto [key, value] : {std::pair<const char*, const std::string*>{"{problem}", &problem},
                              {"{proof}", &proof}, {"{analysis}", &analysis}}) {
      if (prompt_template.compare(i, std::char_traits<char>::length(key), key) == 0) {
        out += *value;
        i += std::char_traits<char>::length(key);
        replaced = true;
        break;
      }
    }
    if (!replaced) out += prompt_template[i++];
  }
  return out;
}

}  // namespace dsrl
