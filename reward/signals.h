// The rule-based reward signals besides the answer check (plain C++): format, length, language consistency.
#pragma once

#include <cstdint>
#include <string>

namespace dsrl {

// Format: 1 when the response is "[<think>] reasoning </think> answer" with exactly one </think>, at most one
// <think> and only at the start, and a non-empty answer after it; and, when `wrapper` is "boxed" or
// "answer_line", that wrapper is in the answer. 0 otherwise. `require_think` false skips the think checks (a
// response without </think> is then all answer).
double format_score(const std::string& response, bool require_think, const std::string& wrapper);

// Length penalty in [-1, 0] for a response of `tokens` tokens:
//   none:     0
//   linear:   0 up to budget, then down linearly to -1 at 2 x budget
//   overlong: the soft overlong penalty: 0 up to budget - cache, then down linearly to -1 at budget (and beyond)
double length_penalty(const std::string& mode, int64_t tokens, int64_t budget, int64_t cache);

// Scripts by Unicode code point, for language consistency.
enum class Script { kOther, kLatin, kHan, kKana, kHangul, kCyrillic, kArabic, kDevanagari, kGreek, kHebrew, kThai };
Script script_of(uint32_t code_point);

// The scripts a language writes in ("en", "zh", "ja", "ko", "ru", "ar", "hi", ...); false for an unknown code.
bool language_scripts(const std::string& language, uint32_t* mask);

// Share of the letters of `text` written in `language`'s scripts, ignoring the <think> tags, code (``` blocks and
// `inline`), math ($...$, $$...$$, \(...\), \[...\]), digits, punctuation and symbols. 1 when the text has no letters.
// Throws std::invalid_argument for an unknown language code.
double language_share(const std::string& text, const std::string& language);

// The reasoning (between <think> and </think>) of a response; its answer is agent/proof_format.h's
// after_reasoning.
std::string reasoning_part(const std::string& response);

}  // namespace dsrl
