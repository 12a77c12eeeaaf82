// Hand-written matchers for the pre-tokenizer regexes listed in model/pretokenize.h. Each matcher answers "the
// end of the match that starts at i, or i when none does", following the regex engine's semantics: alternatives
// tried left to right, greedy quantifiers that back off only as far as the rest of the pattern needs.
#include "model/pretokenize.h"

#include <algorithm>
#include <array>

#include "model/unicode_classes.h"

namespace dsrl::unicode {

namespace {
CharClass lookup(char32_t c) {
  const ClassRange* end = kClassRanges + kClassRangeCount;
  const ClassRange* it =
      std::upper_bound(kClassRanges, end, c, [](char32_t v, const ClassRange& r) { return v < r.first; });
  if (it == kClassRanges) return kOther;
  --it;
  return c <= it->last ? it->cls : kOther;
}
}  // namespace

CharClass char_class(char32_t c) {
  static const std::array<CharClass, 128> ascii = [] {
    std::array<CharClass, 128> t{};
    for (char32_t i = 0; i < 128; ++i) t[i] = lookup(i);
    return t;
  }();
  return c < 128 ? ascii[c] : lookup(c);
}

}  // namespace dsrl::unicode

namespace dsrl::pretok {

using unicode::char_class;
using unicode::CharClass;

CodePoints decode_utf8(std::string_view s) {
  CodePoints out;
  out.cps.reserve(s.size());
  out.offsets.reserve(s.size() + 1);
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
    char32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      ok = (b & 0xC0) == 0x80;
      c = (c << 6) | (b & 0x3F);
    }
    // Reject overlong forms, surrogates and values above U+10FFFF: such bytes are not text.
    static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && c >= kMin[len] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    if (!ok) {
      len = 1;
      c = 0x110000 + b0;  // an invalid byte: a code point of class "other" that keeps the byte
    }
    out.cps.push_back(c);
    out.offsets.push_back(static_cast<uint32_t>(i));
    i += len;
  }
  out.offsets.push_back(static_cast<uint32_t>(s.size()));
  return out;
}

namespace {

using Text = std::u32string_view;  // the piece being split; its end is the end for every lookahead

bool is(char32_t c, CharClass cls) { return char_class(c) == cls; }
bool is_newline(char32_t c) { return c == U'\r' || c == U'\n'; }
bool is_letter_or_mark(char32_t c) {
  const CharClass k = char_class(c);
  return k == unicode::kLetter || k == unicode::kMark;
}
bool is_punct_or_symbol(char32_t c) {
  const CharClass k = char_class(c);
  return k == unicode::kPunct || k == unicode::kSymbol;
}
bool is_ascii_punct(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}
bool is_ascii_letter(char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z'); }

// The first index >= i whose character fails `pred`.
template <class Pred>
size_t run(Text s, size_t i, Pred pred) {
  while (i < s.size() && pred(s[i])) ++i;
  return i;
}

// \s+(?!\S)|\s+ at a whitespace character i: the whole run when it reaches the end, else the run minus its last
// character (which then starts the next piece, e.g. " word"), but at least one character.
size_t match_spaces(Text s, size_t i) {
  const size_t e = run(s, i, [](char32_t c) { return is(c, unicode::kSpace); });
  if (e == s.size()) return e;
  return e - 1 > i ? e - 1 : e;
}

size_t match_gpt2(Text s, size_t i) {
  const char32_t c = s[i];
  if (c == U'\'' && i + 1 < s.size()) {  // 's|'t|'re|'ve|'m|'ll|'d
    const char32_t d = s[i + 1];
    if (d == U's' || d == U't' || d == U'm' || d == U'd') return i + 2;
    const char32_t e = i + 2 < s.size() ? s[i + 2] : 0;
    if ((d == U'r' && e == U'e') || (d == U'v' && e == U'e') || (d == U'l' && e == U'l')) return i + 3;
  }
  const size_t j = c == U' ' ? i + 1 : i;  // " ?" then a run of one class
  if (j < s.size()) {
    const CharClass k = char_class(s[j]);
    if (k == unicode::kLetter) return run(s, j, [](char32_t x) { return is(x, unicode::kLetter); });
    if (k == unicode::kNumber) return run(s, j, [](char32_t x) { return is(x, unicode::kNumber); });
    if (k != unicode::kSpace) {
      return run(s, j, [](char32_t x) {
        const CharClass kx = char_class(x);
        return kx != unicode::kSpace && kx != unicode::kLetter && kx != unicode::kNumber;
      });
    }
  }
  return is(c, unicode::kSpace) ? match_spaces(s, i) : i;
}

size_t match_deepseek(Text s, size_t i) {
  const char32_t c = s[i];
  const bool has_next = i + 1 < s.size();
  // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
  if (is_ascii_punct(c) && has_next && is_ascii_letter(s[i + 1])) return run(s, i + 1, is_ascii_letter);
  // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
  const CharClass k = char_class(c);
  const bool optional_ok = !is_newline(c) && k != unicode::kLetter && k != unicode::kPunct && k != unicode::kSymbol;
  if (optional_ok && has_next && is_letter_or_mark(s[i + 1])) return run(s, i + 1, is_letter_or_mark);
  if (is_letter_or_mark(c)) return run(s, i, is_letter_or_mark);
  // " ?[\p{P}\p{S}]+[\r\n]*"
  const size_t j = c == U' ' ? i + 1 : i;
  if (j < s.size() && is_punct_or_symbol(s[j])) return run(s, run(s, j, is_punct_or_symbol), is_newline);
  if (k != unicode::kSpace) return i;
  // \s*[\r\n]+: the whitespace run up to and including its last newline
  const size_t e = run(s, i, [](char32_t x) { return is(x, unicode::kSpace); });
  for (size_t m = e; m > i; --m) {
    if (is_newline(s[m - 1])) return m;
  }
  return match_spaces(s, i);  // \s+(?!\S)|\s+
}

size_t match_digits3(Text s, size_t i) {
  size_t e = i;
  while (e < s.size() && e < i + 3 && is(s[e], unicode::kNumber)) ++e;
  return e;
}

bool is_cjk(char32_t c) {  // [一-龥぀-ゟ゠-ヿ]
  return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x309F) || (c >= 0x30A0 && c <= 0x30FF);
}

size_t match_at(PatternKind kind, Text s, size_t i) {
  switch (kind) {
    case PatternKind::kGpt2: return match_gpt2(s, i);
    case PatternKind::kDeepSeek: return match_deepseek(s, i);
    case PatternKind::kDigits3: return match_digits3(s, i);
    case PatternKind::kCjk: return run(s, i, is_cjk);
    case PatternKind::kLiteral: break;
  }
  return i;
}

// Where the next match at or after i starts, and where it ends; {size, size} when there is none.
std::pair<size_t, size_t> next_match(const Pattern& p, Text s, size_t i) {
  if (p.kind == PatternKind::kLiteral) {
    const size_t at = s.find(p.literal, i);
    return at == Text::npos ? std::make_pair(s.size(), s.size()) : std::make_pair(at, at + p.literal.size());
  }
  for (; i < s.size(); ++i) {
    const size_t e = match_at(p.kind, s, i);
    if (e > i) return {i, e};
  }
  return {s.size(), s.size()};
}

}  // namespace

std::optional<PatternKind> pattern_from_regex(std::string_view regex) {
  static constexpr std::string_view kGpt2 =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static constexpr std::string_view kDigits3 = R"(\p{N}{1,3})";
  static constexpr std::string_view kCjk = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
  static constexpr std::string_view kDeepSeek =
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
      " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
  if (regex == kGpt2) return PatternKind::kGpt2;
  if (regex == kDigits3) return PatternKind::kDigits3;
  if (regex == kCjk) return PatternKind::kCjk;
  if (regex == kDeepSeek) return PatternKind::kDeepSeek;
  return std::nullopt;
}

void split_isolated(const Pattern& pattern, std::u32string_view text, Span span, std::vector<Span>& out) {
  const Text s = text.substr(0, span.end);
  size_t done = span.begin;
  while (done < span.end) {
    const auto [begin, end] = next_match(pattern, s, done);
    if (begin > done) out.push_back({static_cast<uint32_t>(done), static_cast<uint32_t>(begin)});
    if (end > begin) out.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(end)});
    done = std::max(end, begin);
  }
}

namespace {
// GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100.. in byte order.
struct ByteMap {
  std::array<std::string, 256> utf8;
  std::array<int16_t, 0x144> byte_of;  // code point -> byte, -1 outside the alphabet
  ByteMap() {
    byte_of.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      byte_of[c] = static_cast<int16_t>(b);
      std::string& u = utf8[b];
      if (c < 0x80) {
        u.push_back(static_cast<char>(c));
      } else {
        u.push_back(static_cast<char>(0xC0 | (c >> 6)));
        u.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      }
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}
}  // namespace

const std::string& byte_to_char_utf8(uint8_t byte) { return byte_map().utf8[byte]; }

std::optional<uint8_t> char_to_byte(char32_t c) {
  if (c >= byte_map().byte_of.size() || byte_map().byte_of[c] < 0) return std::nullopt;
  return static_cast<uint8_t>(byte_map().byte_of[c]);
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char b : bytes) out += byte_to_char_utf8(static_cast<uint8_t>(b));
  return out;
}

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  std::string out;
  for (const char32_t c : decode_utf8(token).cps) {
    const auto b = char_to_byte(c);
    if (!b) return std::nullopt;
    out.push_back(static_cast<char>(*b));
  }
  return out;
}

}  // namespace dsrl::pretok
