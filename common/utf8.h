// UTF-8 validity (plain C++). Protobuf string fields must hold valid UTF-8, but text decoded from sampled token
// ids need not be (a byte-level token can end inside a character), so it is made valid before it is sent.
#pragma once

#include <string>
#include <string_view>

namespace dsrl {

// `text` with every byte that starts no well-formed sequence replaced by U+FFFD (so a truncated 3-byte character
// becomes two U+FFFD); well-formed text comes back unchanged.
std::string valid_utf8(std::string_view text);

// The longest prefix of `text` of at most max_bytes bytes that does not end inside a UTF-8 character.
std::string_view utf8_prefix(std::string_view text, size_t max_bytes);

}  // namespace dsrl
