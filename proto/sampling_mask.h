// The SamplingMask encoding of rollout.proto, one kept token set per generated position (plain C++, no protobuf):
//   0x00                      every token kept;
//   0x01 varint(first id) varint(gap)...   sorted ids, unsigned LEB128;
//   0x02 bitmap               vocab_size bits, LSB first (the bits past vocab_size are 0).
// The writer picks the shorter of 1 and 2. The rollout worker encodes, the trainer decodes.
// Both sides work on packed bits, the bitmap's layout: kept_bytes(vocab) bytes, token j at bit j % 8 of byte j / 8.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsrl {

// Bytes of a packed kept set over `vocab` tokens: (vocab + 7) / 8.
int64_t kept_bytes(int64_t vocab);

// Encodes packed bits (kept_bytes(vocab) bytes; bits past vocab are ignored).
std::string encode_kept_bits(const uint8_t* bits, int64_t vocab);

// Decodes into packed bits (kept_bytes(vocab) bytes, the bits past vocab left 0). Throws dsrl::Error on malformed
// bytes (unknown tag, a varint running past the end, ids out of order or out of range, a bitmap of the wrong
// length or with bits past the vocabulary).
void decode_kept_bits(const std::string& encoded, int64_t vocab, uint8_t* bits);

// The same over one flag per token (kept[j] != 0 when token j is kept; vocab entries).
std::string encode_kept_set(const uint8_t* kept, int64_t vocab);
std::vector<uint8_t> decode_kept_set(const std::string& encoded, int64_t vocab);

}  // namespace dsrl
