#include "proto/sampling_mask.h"

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

}  // namespace

std::string encode_kept_set(const uint8_t* kept, int64_t vocab) {
  std::string ids(1, '\x01');
  int64_t count = 0, previous = 0;
  for (int64_t j = 0; j < vocab; ++j) {
    if (!kept[j]) continue;
    put_varint(ids, static_cast<uint64_t>(count == 0 ? j : j - previous));
    previous = j;
    ++count;
  }
  if (count == vocab) return std::string(1, '\x00');
  const size_t bitmap_size = 1 + static_cast<size_t>((vocab + 7) / 8);
  if (ids.size() <= bitmap_size) return ids;
  std::string bitmap(bitmap_size, '\0');
  bitmap[0] = '\x02';
  for (int64_t j = 0; j < vocab; ++j)
    if (kept[j]) bitmap[1 + j / 8] = static_cast<char>(bitmap[1 + j / 8] | (1 << (j % 8)));
  return bitmap;
}

std::vector<uint8_t> decode_kept_set(const std::string& in, int64_t vocab) {
  DSRL_CHECK(!in.empty(), "sampling mask: an empty position (expected a tag byte)");
  const auto tag = static_cast<uint8_t>(in[0]);
  std::vector<uint8_t> kept(vocab, tag == 0 ? 1 : 0);
  if (tag == 0) {
    DSRL_CHECK(in.size() == 1, "sampling mask: tag 0 (all kept) followed by {} bytes", in.size() - 1);
  } else if (tag == 1) {
    size_t at = 1;
    int64_t id = -1;
    while (at < in.size()) {
      const uint64_t step = get_varint(in, at);
      DSRL_CHECK(id < 0 || step > 0, "sampling mask: ids not strictly increasing after id {}", id);
      DSRL_CHECK(step < static_cast<uint64_t>(vocab) && id + static_cast<int64_t>(step) < vocab,
                 "sampling mask: id beyond the vocabulary of {}", vocab);
      id = id < 0 ? static_cast<int64_t>(step) : id + static_cast<int64_t>(step);
      kept[id] = 1;
    }
  } else if (tag == 2) {
    DSRL_CHECK_EQ(static_cast<int64_t>(in.size()), 1 + (vocab + 7) / 8, "sampling mask bitmap bytes");
    for (int64_t j = 0; j < vocab; ++j) kept[j] = (static_cast<uint8_t>(in[1 + j / 8]) >> (j % 8)) & 1;
  } else {
    DSRL_FAIL("sampling mask: unknown tag {} (expected 0, 1 or 2)", static_cast<int>(tag));
  }
  return kept;
}

}  // namespace dsrl
