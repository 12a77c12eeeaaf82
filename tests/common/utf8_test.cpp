// valid_utf8: well-formed text unchanged, every stray byte replaced by U+FFFD.
#include <gtest/gtest.h>

#include "common/utf8.h"

namespace dsrl {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(Utf8, WellFormedTextIsUnchanged) {
  for (const std::string s : {"", "plain ascii", "\xE6\x80\x9D\xE8\x80\x83", "\xF0\x9F\x98\x80 emoji",
                              "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"})
    EXPECT_EQ(valid_utf8(s), s);
}

TEST(Utf8, StrayBytesBecomeReplacementCharacters) {
  EXPECT_EQ(valid_utf8("a\x80z"), "a" + kReplacement + "z") << "a lone continuation byte";
  EXPECT_EQ(valid_utf8("\xE2\x82"), kReplacement + kReplacement) << "a 3-byte character cut after 2";
  EXPECT_EQ(valid_utf8("\xC0\xAF"), kReplacement + kReplacement) << "an overlong encoding";
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement) << "a surrogate";
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), kReplacement + kReplacement + kReplacement + kReplacement)
      << "above U+10FFFF";
  EXPECT_EQ(valid_utf8("9\xFF" "5"), "9" + kReplacement + "5");
}

}  // namespace
}  // namespace dsrl
