// Final answers: extraction from a response and equivalence with a reference (plain C++).
//
// Extraction looks at the answer part (after the last </think> when there is one) and tries, in the configured
// order: "boxed" (the last \boxed{...} or \fbox{...}, nested braces allowed), "answer_line" (the last line
// "Answer: ..." / "Final answer: ..."), "last_number" (the last number in the text).
//
// Equivalence, after normalising both sides (LaTeX wrappers $ \( \[ \text \mathrm \left \right, spacing commands,
// \dfrac/\tfrac, a trailing period, unicode minus):
//   numbers:        integers with thousands separators, decimals, fractions (a/b, \frac{a}{b}, \frac ab), signs,
//                   percentages (50% equals 50 and 0.5), within a relative tolerance; two integers exactly
//   tuples/intervals: (a, b), [a, b), {a, b} element by element with the same brackets
//   choices:        a reference that is one letter A-J matches "B", "(B)", "B.", "\text{(B)}", "Option B"
//   anything else:  the normalised strings, exactly or case-insensitively
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dsrl {

// The answer text of `response`, or nullopt when no extractor finds one. `order`: extractor names, tried in turn.
std::optional<std::string> extract_answer(const std::string& response, const std::vector<std::string>& order);

// The extractor names extract_answer knows.
const std::vector<std::string>& answer_extractors();

struct MatchOptions {
  double tolerance = 1e-6;      // numbers match when |a - b| <= tolerance * max(1, |b|)
  bool case_insensitive = true; // for string answers
};

bool answers_equivalent(const std::string& answer, const std::string& reference, const MatchOptions& options = {});

// The normalised form used for string comparison (exposed for tests and debugging).
std::string normalize_answer(const std::string& text);

// The content of the last \boxed{...} (or \fbox{...}) in text, braces balanced; nullopt if none or unbalanced.
std::optional<std::string> last_boxed(const std::string& text);

}  // namespace dsrl
