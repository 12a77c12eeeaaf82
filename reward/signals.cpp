#include "reward/signals.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "common/answer.h"

namespace dsrl {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

// Decodes one UTF-8 code point at s[i], advancing i; invalid bytes decode as U+FFFD.
uint32_t next_code_point(const std::string& s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xe ? 2 : (b >> 3) == 0x1e ? 3 : -1;
  if (extra < 0 || i + extra >= s.size() + (extra == 0 ? 1 : 0)) {
    ++i;
    return 0xfffd;
  }
  uint32_t cp = extra == 0 ? b : b & (0x3f >> extra);
  for (int k = 1; k <= extra; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c >> 6) != 0x2) {
      ++i;
      return 0xfffd;
    }
    cp = (cp << 6) | (c & 0x3f);
  }
  i += extra + 1;
  return cp;
}

// Removes the think tags, code and math spans: their letters say nothing about the language.
std::string strip_code_and_math(const std::string& s) {
  std::string out;
  size_t i = 0;
  auto skip_to = [&](const std::string& close, size_t from) {
    const size_t end = s.find(close, from);
    i = end == std::string::npos ? s.size() : end + close.size();
    out += ' ';
  };
  while (i < s.size()) {
    if (s.compare(i, 7, "<think>") == 0) i += 7, out += ' ';
    else if (s.compare(i, 8, "</think>") == 0) i += 8, out += ' ';
    else if (s.compare(i, 3, "```") == 0) skip_to("```", i + 3);
    else if (s[i] == '`') skip_to("`", i + 1);
    else if (s.compare(i, 2, "$$") == 0) skip_to("$$", i + 2);
    else if (s[i] == '$') skip_to("$", i + 1);
    else if (s.compare(i, 2, "\\(") == 0) skip_to("\\)", i + 2);
    else if (s.compare(i, 2, "\\[") == 0) skip_to("\\]", i + 2);
    else out += s[i++];
  }
  return out;
}

uint32_t bit(Script s) { return 1u << static_cast<int>(s); }

}  // namespace

double format_score(const std::string& response, bool require_think, const std::string& wrapper) {
  std::string answer = response;
  if (require_think) {
    if (count(response, "</think>") != 1) return 0;
    const size_t opens = count(response, "<think>");
    if (opens > 1) return 0;
    if (opens == 1) {
      const size_t first = response.find_first_not_of(" \t\r\n");
      if (response.compare(first, 7, "<think>") != 0) return 0;
    }
    answer = response.substr(response.find("</think>") + 8);
  }
  if (blank(answer)) return 0;
  if (wrapper == "boxed" && !last_boxed(answer)) return 0;
  if (wrapper == "answer_line" && !extract_answer(answer, {"answer_line"})) return 0;
  return 1;
}

double length_penalty(const std::string& mode, int64_t tokens, int64_t budget, int64_t cache) {
  if (mode == "none" || budget <= 0) return 0;
  if (mode == "linear") {
    if (tokens <= budget) return 0;
    return -std::min(1.0, static_cast<double>(tokens - budget) / budget);
  }
  if (mode == "overlong") {
    const int64_t free_until = budget - cache;
    if (tokens <= free_until) return 0;
    if (tokens > budget || cache <= 0) return -1;
    return static_cast<double>(free_until - tokens) / cache;
  }
  throw std::invalid_argument("length mode must be none, linear or overlong, got '" + mode + "'");
}

Script script_of(uint32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= 0xc0 && c <= 0x24f && c != 0xd7 && c != 0xf7) ||
      (c >= 0x1e00 && c <= 0x1eff))
    return Script::kLatin;
  if ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x20000 && c <= 0x2a6df) ||
      (c >= 0xf900 && c <= 0xfaff))
    return Script::kHan;
  if ((c >= 0x3040 && c <= 0x30ff) || (c >= 0x31f0 && c <= 0x31ff)) return Script::kKana;
  if ((c >= 0xac00 && c <= 0xd7af) || (c >= 0x1100 && c <= 0x11ff) || (c >= 0x3130 && c <= 0x318f))
    return Script::kHangul;
  if (c >= 0x400 && c <= 0x52f) return Script::kCyrillic;
  if ((c >= 0x600 && c <= 0x6ff) || (c >= 0x750 && c <= 0x77f)) return Script::kArabic;
  if (c >= 0x900 && c <= 0x97f) return Script::kDevanagari;
  if (c >= 0x370 && c <= 0x3ff) return Script::kGreek;
  if (c >= 0x590 && c <= 0x5ff) return Script::kHebrew;
  if (c >= 0xe00 && c <= 0xe7f) return Script::kThai;
  return Script::kOther;
}

bool language_scripts(const std::string& language, uint32_t* mask) {
  static const std::map<std::string, uint32_t> scripts = {
      {"zh", bit(Script::kHan)}, {"ja", bit(Script::kHan) | bit(Script::kKana)},
      {"ko", bit(Script::kHangul) | bit(Script::kHan)}, {"ru", bit(Script::kCyrillic)},
      {"uk", bit(Script::kCyrillic)}, {"bg", bit(Script::kCyrillic)}, {"sr", bit(Script::kCyrillic)},
      {"ar", bit(Script::kArabic)}, {"fa", bit(Script::kArabic)}, {"ur", bit(Script::kArabic)},
      {"hi", bit(Script::kDevanagari)}, {"mr", bit(Script::kDevanagari)}, {"el", bit(Script::kGreek)},
      {"he", bit(Script::kHebrew)}, {"th", bit(Script::kThai)}};
  static const char* latin[] = {"en", "fr", "de", "es", "it", "pt", "nl", "sv", "no", "da", "fi", "pl", "cs",
                                "ro", "hu", "tr", "id", "ms", "vi", "ca", "hr", "sk", "sl", "et", "lv", "lt"};
  const std::string base = language.substr(0, language.find_first_of("-_"));
  if (auto it = scripts.find(base); it != scripts.end()) {
    *mask = it->second;
    return true;
  }
  if (std::find(std::begin(latin), std::end(latin), base) != std::end(latin)) {
    *mask = bit(Script::kLatin);
    return true;
  }
  return false;
}

double language_share(const std::string& text, const std::string& language) {
  uint32_t wanted = 0;
  if (!language_scripts(language, &wanted)) throw std::invalid_argument("unknown target_language '" + language + "'");
  const std::string prose = strip_code_and_math(text);
  int64_t letters = 0, in_language = 0;
  for (size_t i = 0; i < prose.size();) {
    const Script s = script_of(next_code_point(prose, i));
    if (s == Script::kOther) continue;
    ++letters;
    in_language += (wanted & bit(s)) != 0;
  }
  return letters == 0 ? 1.0 : static_cast<double>(in_language) / letters;
}

std::string reasoning_part(const std::string& response) {
  const size_t end = response.find("</think>");
  if (end == std::string::npos) return "";
  const size_t open = response.find("<think>");
  const size_t start = open != std::string::npos && open < end ? open + 7 : 0;
  return response.substr(start, end - start);
}

}  // namespace dsrl
