// The SamplingMask encoding of rollout.proto, one kept token set per generated position (plain C++, no protobuf):
//   0x00                      every token kept;
//   0x01 varint(first id) varint(gap)...   sorted ids, unsigned LEB128;
//   0x02 bitmap               vocab_size bits, LSB first.
// The writer picks the shorter of 1 and 2. The rollout worker encodes, the trainer decodes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsrl {

// kept[j] != 0 when token j is kept; vocab entries.
std::string encode_kept_set(const uint8_t* kept, int64_t vocab);

// The kept flags (vocab entries of 0/1). Throws dsrl::Error on malformed bytes (unknown tag, a varint running
// past the end, ids out of order or out of range, a bitmap of the wrong length).
std::vector<uint8_t> decode_kept_set(const std::string& encoded, int64_t vocab);

}  // namespace dsrl
