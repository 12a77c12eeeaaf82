// Arithmetic derivations (plain C++): the built-in proof-like task for DeepSeekMath-V2 self-verification
// (docs/proofs.md). A claim "EXPR = V" over small non-negative integers with +, -, * and parentheses; its proof
// rewrites EXPR one operation per line until V is left:
//   (7 + 5) * 3 - 4
//   = 12 * 3 - 4
//   = 36 - 4
//   = 32
// grade_derivation scores a proof as DeepSeekMath-V2's verifiers score proofs:
//   1    each line is the line before with one ready operation (both operands numbers) replaced by its value, and
//        the last line is V (restating EXPR as the first line is allowed);
//   0.5  every line keeps the value, but some line does more than one operation at once (a skipped step);
//   0    a line with another value (a wrong step), a line that is not an expression, or no V at the end.
// The first issue found is named by its line (1-based over the proof's non-blank lines), in the words the
// built-in analyses use, so a verifier's analysis can be checked against it.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace dsrl {

struct DerivationClaim {
  std::string expression;  // e.g. "(7 + 5) * 3 - 4"
  int64_t value = 0;       // what it equals: 32
  std::string text() const;  // "(7 + 5) * 3 - 4 = 32"
};

// "EXPR = V" read back, or nullopt (with *why set) when it is not a claim whose expression equals V.
std::optional<DerivationClaim> parse_claim(const std::string& text, std::string* why = nullptr);

struct ProofGrade {
  double score = 1;   // 1, 0.5 or 0
  int line = 0;       // the line of the first issue; 0 when there is none
  std::string issue;  // e.g. "Line 3 is wrong: it equals 31, not 32."
};

// The grade of `proof` (one expression per line; a leading "=" is allowed) as a proof of `claim`.
ProofGrade grade_derivation(const DerivationClaim& claim, const std::string& proof);

// `count` claims with `operations` operators each (1..6), every intermediate value in [0, 99], the same for the
// same seed. Throws dsrl::Error on out-of-range arguments.
std::vector<DerivationClaim> make_derivation_claims(int64_t count, int operations, uint64_t seed);

// The kinds of proof the built-in data holds: the rigorous one and two with a planted flaw.
enum class ProofFlaw { none, wrong_step, skipped_step };
const char* flaw_name(ProofFlaw flaw);

// A proof of `claim` with `flaw` planted at a random step (rng): none, the rigorous derivation (leftmost ready
// operation first); wrong_step, one step's result off by 1 to 3, carried on to a wrong end; skipped_step, two
// operations done in one line (needs at least 2 operations; otherwise the rigorous proof). Lines joined by "\n",
// the first the expression itself, the rest starting with "= ".
std::string derivation_proof(const DerivationClaim& claim, ProofFlaw flaw, std::mt19937_64& rng);

// An analysis of a proof in the verifier format (agent/proof_format.h's default markers): the grade's issue
// (or that every line is right) and its score.
std::string derivation_analysis(const ProofGrade& grade);

// The role prompts (the three roles may share one model); {problem} is the claim, {proof} and {analysis} the proof
// under review and its analysis (agent/proof_format.h: fill_role_prompt).
extern const char* const kDerivationGeneratorPrompt;
extern const char* const kDerivationVerifierPrompt;
extern const char* const kDerivationRevisionPrompt;

}  // namespace dsrl
