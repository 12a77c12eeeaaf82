// CRC-32C against published check values (the CRC catalogue, RFC 3720 appendix B.4) and resuming through `init`.
#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dsrl {
namespace {

uint32_t crc_of(const std::vector<uint8_t>& bytes) { return crc32c(bytes.data(), bytes.size()); }

TEST(Crc32c, MatchesKnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the catalogue's check value
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  EXPECT_EQ(crc32c("a", 1), 0xC1D04330u);
  // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of ones, incrementing, decrementing.
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) up[i] = static_cast<uint8_t>(i), down[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(crc_of(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc_of(ones), 0x62A8AB43u);
  EXPECT_EQ(crc_of(up), 0x46DD794Eu);
  EXPECT_EQ(crc_of(down), 0x113FDB5Cu);
}

TEST(Crc32c, ResumesThroughInitAtAnySplit) {
  const std::string text = "The quick brown fox jumps over the lazy dog";
  const uint32_t whole = crc32c(text.data(), text.size());
  EXPECT_EQ(whole, 0x22620404u);
  for (size_t split = 0; split <= text.size(); ++split) {
    const uint32_t head = crc32c(text.data(), split);
    EXPECT_EQ(crc32c(text.data() + split, text.size() - split, head), whole) << "split at " << split;
  }
}

TEST(Crc32c, SeesEveryBitFlip) {
  std::vector<uint8_t> bytes(64);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  const uint32_t clean = crc_of(bytes);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      bytes[i] ^= static_cast<uint8_t>(1u << bit);
      EXPECT_NE(crc_of(bytes), clean) << "byte " << i << " bit " << bit;
      bytes[i] ^= static_cast<uint8_t>(1u << bit);
    }
  }
}

TEST(Crc32c, FastPathEqualsTheTableAtEveryLengthAndAlignment) {
  std::vector<uint8_t> bytes(300);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 73 + 5);
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n + offset <= bytes.size(); n += 7) {
      EXPECT_EQ(crc32c(bytes.data() + offset, n, 0x1234u), crc32c_reference(bytes.data() + offset, n, 0x1234u))
          << "offset " << offset << " length " << n;
    }
  }
}

}  // namespace
}  // namespace dsrl
