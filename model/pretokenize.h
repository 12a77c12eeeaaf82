// Pre-tokenization for byte-level BPE: the regex splits of HF tokenizers' `Split` and `ByteLevel`
// pre-tokenizers, written by hand for the patterns real tokenizer.json files use (std::regex has neither
// \p{..} classes nor the lookahead these patterns need), and the GPT-2 byte <-> character map.
//
// Supported patterns (matched by their exact regex text in tokenizer.json):
//   kGpt2       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//               (ByteLevel with use_regex=true; also accepted as a Split pattern)
//   kDigits3    \p{N}{1,3}                                    (DeepSeek-V3, first Split)
//   kCjk        [一-龥぀-ゟ゠-ヿ]+                              (DeepSeek-V3, second Split: CJK ideographs, kana)
//   kDeepSeek   [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//                ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (DeepSeek-V3, third Split)
//   kLiteral    a Split with {"String": "..."}: the literal text
// Every split uses the "Isolated" behaviour: matches and the gaps between them both become pieces.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsrl::pretok {

// Text decoded once into code points; offsets[i] is the byte offset of cps[i], offsets.back() the byte length.
// A byte that is not valid UTF-8 becomes one code point of its own, above U+10FFFF (class "other").
struct CodePoints {
  std::u32string cps;
  std::vector<uint32_t> offsets;
};
CodePoints decode_utf8(std::string_view bytes);

// A half-open range [begin, end) of code point indices.
struct Span {
  uint32_t begin;
  uint32_t end;
};

enum class PatternKind { kGpt2, kDigits3, kCjk, kDeepSeek, kLiteral };

struct Pattern {
  PatternKind kind;
  std::u32string literal;  // kLiteral only
};

// The pattern whose regex text is `regex`, or nullopt when it is not one we implement.
std::optional<PatternKind> pattern_from_regex(std::string_view regex);

// Splits text[span] "Isolated"-style: appends consecutive spans that cover `span` exactly (none when empty).
// The pattern sees only text[span] (lookaheads stop at span.end), as HF splits each piece on its own.
void split_isolated(const Pattern& pattern, std::u32string_view text, Span span, std::vector<Span>& out);

// GPT-2's byte-level alphabet: every byte maps to one printable character ("Ġ" for the space).
const std::string& byte_to_char_utf8(uint8_t byte);                   // the character, UTF-8 encoded
std::optional<uint8_t> char_to_byte(char32_t c);                       // its inverse
std::string bytes_to_byte_level(std::string_view bytes);              // "a b" -> "aĠb"
// The bytes a vocabulary token stands for; nullopt when a character is outside the byte-level alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view token);

}  // namespace dsrl::pretok
