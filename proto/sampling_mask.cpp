#include "proto/sampling_mask.h"

#include <cstring>

#include "common/error.h"

namespace dsrl {
namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

uint64_t get_varint(const std::string& in, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    DSRL_CHECK(at < in.size(), "sampling mask: a varint runs past the end ({} bytes)", in.size());
    const auto byte = static_cast<uint8_t>(in[at++]);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  DSRL_FAIL("sampling mask: a varint longer than 64 bits");
}

// The bits of the last byte that lie inside the vocabulary.
uint8_t last_byte_mask(int64_t vocab) { return vocab % 8 == 0 ? 0xff : static_cast<uint8_t>((1u << (vocab % 8)) - 1); }

}  // namespace

int64_t kept_bytes(int64_t vocab) { return (vocab + 7) / 8; }

std::string encode_kept_bits(const uint8_t* bits, int64_t vocab) {
  const int64_t n = kept_bytes(vocab);
  auto byte = [&](int64_t i) -> unsigned { return i == n - 1 ? bits[i] & last_byte_mask(vocab) : bits[i]; };
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += __builtin_popcount(byte(i));
  if (count == vocab) return std::string(1, '\x00');
  if (count <= n) {  // otherwise the list is longer than the bitmap: every listed id takes a byte at least
    std::string ids(1, '\x01');
    int64_t previous = -1;
    for (int64_t i = 0; i < n; ++i) {
      for (unsigned b = byte(i); b != 0; b &= b - 1) {
        const int64_t j = i * 8 + __builtin_ctz(b);
        put_varint(ids, static_cast<uint64_t>(previous < 0 ? j : j - previous));
        previous = j;
      }
    }
    if (static_cast<int64_t>(ids.size()) <= 1 + n) return ids;
  }
  std::string bitmap(1, '\x02');
  for (int64_t i = 0; i < n; ++i) bitmap.push_back(static_cast<char>(byte(i)));
  return bitmap;
}

void decode_kept_bits(const std::string& in, int64_t vocab, uint8_t* bits) {
  DSRL_CHECK(!in.empty(), "sampling mask: an empty position (expected a tag byte)");
  const int64_t n = kept_bytes(vocab);
  const auto tag = static_cast<uint8_t>(in[0]);
  if (tag == 0) {
    DSRL_CHECK(in.size() == 1, "sampling mask: tag 0 (all kept) followed by {} bytes", in.size() - 1);
    std::memset(bits, 0xff, static_cast<size_t>(n));
    if (n > 0) bits[n - 1] = last_byte_mask(vocab);
  } else if (tag == 1) {
    std::memset(bits, 0, static_cast<size_t>(n));
    size_t at = 1;
    int64_t id = -1;
    while (at < in.size()) {
      const uint64_t step = get_varint(in, at);
      DSRL_CHECK(id < 0 || step > 0, "sampling mask: ids not strictly increasing after id {}", id);
      DSRL_CHECK(step < static_cast<uint64_t>(vocab) && id + static_cast<int64_t>(step) < vocab,
                 "sampling mask: id beyond the vocabulary of {}", vocab);
      id = id < 0 ? static_cast<int64_t>(step) : id + static_cast<int64_t>(step);
      bits[id / 8] = static_cast<uint8_t>(bits[id / 8] | (1u << (id % 8)));
    }
  } else if (tag == 2) {
    DSRL_CHECK_EQ(static_cast<int64_t>(in.size()), 1 + n, "sampling mask bitmap bytes");
    std::memcpy(bits, in.data() + 1, static_cast<size_t>(n));
    DSRL_CHECK(n == 0 || (bits[n - 1] & ~last_byte_mask(vocab)) == 0,
               "sampling mask: bitmap bits set past the vocabulary of {}", vocab);
  } else {
    DSRL_FAIL("sampling mask: unknown tag {} (expected 0, 1 or 2)", static_cast<int>(tag));
  }
}

std::string encode_kept_set(const uint8_t* kept, int64_t vocab) {
  std::vector<uint8_t> bits(static_cast<size_t>(kept_bytes(vocab)), 0);
  for (int64_t j = 0; j < vocab; ++j)
    if (kept[j]) bits[j / 8] = static_cast<uint8_t>(bits[j / 8] | (1u << (j % 8)));
  return encode_kept_bits(bits.data(), vocab);
}

std::vector<uint8_t> decode_kept_set(const std::string& encoded, int64_t vocab) {
  std::vector<uint8_t> bits(static_cast<size_t>(kept_bytes(vocab)));
  decode_kept_bits(encoded, vocab, bits.data());
  std::vector<uint8_t> kept(static_cast<size_t>(vocab));
  for (int64_t j = 0; j < vocab; ++j) kept[j] = (bits[j / 8] >> (j % 8)) & 1;
  return kept;
}

}  // namespace dsrl
