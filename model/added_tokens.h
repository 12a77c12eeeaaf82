// Added tokens (special and not) are found in the text before pre-tokenization and become their ids directly,
// as HF tokenizers' AddedVocabulary does: at each position the leftmost match wins, the longest one there
// (Aho-Corasick "leftmost-longest"); `lstrip` / `rstrip` tokens also swallow the whitespace on that side.
// HF matches in two passes: first the tokens with normalized=false (special tokens by default), then, in the
// text left between those, the ones with normalized=true. We only support identity normalizers, so a pass is a
// plain search.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsrl {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool normalized = true;  // which of HF's two matching passes finds it (true: the second)
  bool lstrip = false;     // also take the whitespace before it
  bool rstrip = false;     // also take the whitespace after it
};

// A piece of the input: an added token (id >= 0) or text still to tokenize (id == -1), as byte offsets.
struct Segment {
  size_t begin;
  size_t end;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  void add(const AddedToken& token);
  bool empty() const { return tokens_.empty(); }
  // Cuts text[begin, end) into consecutive segments; appends them to `out`.
  void split(std::string_view text, size_t begin, size_t end, std::vector<Segment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // byte -> node index
    int32_t token = -1;                                 // index into tokens_ when a token ends here
  };
  // The longest token starting at text[pos] (ending at or before `end`): {token index, length}, or {-1, 0}.
  std::pair<int32_t, size_t> longest_at(std::string_view text, size_t pos, size_t end) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};  // can a token start with this byte? (a quick skip)
};

// Finds the added tokens in `text` with HF's two passes: `first` (normalized=false), then `second`.
std::vector<Segment> split_added_tokens(std::string_view text, const AddedTokenMatcher& first,
                                        const AddedTokenMatcher& second);

}  // namespace dsrl
