// Coarse Unicode classes for the tokenizer's hand-written pre-tokenizer splitters (model/pretokenize.cpp).
// Each code point falls in exactly one class; the table (model/unicode_classes.cpp) is generated from Python's
// unicodedata by scripts/gen-unicode-classes.py.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsrl::unicode {

enum CharClass : uint8_t {
  kOther,   // C*: controls (but the whitespace ones), format, private use, surrogates, unassigned
  kLetter,  // \p{L}: Lu Ll Lt Lm Lo
  kMark,    // \p{M}: Mn Mc Me
  kNumber,  // \p{N}: Nd Nl No
  kPunct,   // \p{P}: Pc Pd Ps Pe Pi Pf Po
  kSymbol,  // \p{S}: Sm Sc Sk So
  kSpace,   // Oniguruma's \s: U+0009..U+000D, U+0085, Zs, Zl, Zp (== Unicode White_Space)
};

struct ClassRange {
  char32_t first;  // inclusive
  char32_t last;   // inclusive
  CharClass cls;
};

extern const ClassRange kClassRanges[];  // sorted by first, disjoint; code points outside them are kOther
extern const size_t kClassRangeCount;

// The class of one code point (binary search; ASCII through a table).
CharClass char_class(char32_t c);

}  // namespace dsrl::unicode
