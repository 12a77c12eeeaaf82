#include "model/added_tokens.h"

#include <algorithm>

#include "model/pretokenize.h"
#include "model/unicode_classes.h"

namespace dsrl {

void AddedTokenMatcher::add(const AddedToken& token) {
  if (token.content.empty()) return;  // HF ignores empty added tokens
  int32_t node = 0;
  for (const char ch : token.content) {
    const auto b = static_cast<uint8_t>(ch);
    auto& kids = nodes_[node].children;
    auto it = std::find_if(kids.begin(), kids.end(), [b](const auto& kv) { return kv.first == b; });
    if (it == kids.end()) {
      nodes_.push_back(Node{});
      const auto child = static_cast<int32_t>(nodes_.size() - 1);
      nodes_[node].children.emplace_back(b, child);  // `kids` may dangle after push_back: index again
      node = child;
    } else {
      node = it->second;
    }
  }
  first_byte_[static_cast<uint8_t>(token.content[0])] = true;
  tokens_.push_back(token);
  nodes_[node].token = static_cast<int32_t>(tokens_.size() - 1);
}

std::pair<int32_t, size_t> AddedTokenMatcher::longest_at(std::string_view text, size_t pos, size_t end) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = pos; i < end; ++i) {
    const auto b = static_cast<uint8_t>(text[i]);
    const auto& kids = nodes_[node].children;
    auto it = std::find_if(kids.begin(), kids.end(), [b](const auto& kv) { return kv.first == b; });
    if (it == kids.end()) break;
    node = it->second;
    if (nodes_[node].token >= 0) best = {nodes_[node].token, i + 1 - pos};
  }
  return best;
}

namespace {
bool is_space(char32_t c) { return unicode::char_class(c) == unicode::kSpace; }

// Start of the whitespace run that ends at `pos` (not before `floor`); HF's lstrip.
size_t strip_left(std::string_view text, size_t floor, size_t pos) {
  const pretok::CodePoints cp = pretok::decode_utf8(text.substr(floor, pos - floor));
  size_t k = cp.cps.size();
  while (k > 0 && is_space(cp.cps[k - 1])) --k;
  return floor + cp.offsets[k];
}

// End of the whitespace run that starts at `pos` (not past `end`); HF's rstrip.
size_t strip_right(std::string_view text, size_t pos, size_t end) {
  const pretok::CodePoints cp = pretok::decode_utf8(text.substr(pos, end - pos));
  size_t k = 0;
  while (k < cp.cps.size() && is_space(cp.cps[k])) ++k;
  return pos + cp.offsets[k];
}
}  // namespace

void AddedTokenMatcher::split(std::string_view text, size_t begin, size_t end, std::vector<Segment>& out) const {
  size_t done = begin;  // everything before `done` is in `out`
  for (size_t i = begin; i < end; ++i) {
    if (!first_byte_[static_cast<uint8_t>(text[i])]) continue;
    const auto [index, len] = longest_at(text, i, end);
    if (index < 0) continue;
    const AddedToken& token = tokens_[index];
    const size_t start = token.lstrip ? strip_left(text, done, i) : i;
    const size_t stop = token.rstrip ? strip_right(text, i + len, end) : i + len;
    if (start > done) out.push_back({done, start, -1});
    out.push_back({start, stop, token.id});
    done = stop;
    i = stop - 1;
  }
  if (done < end) out.push_back({done, end, -1});
}

std::vector<Segment> split_added_tokens(std::string_view text, const AddedTokenMatcher& first,
                                        const AddedTokenMatcher& second) {
  std::vector<Segment> pass1;
  first.split(text, 0, text.size(), pass1);
  if (second.empty()) return pass1;
  std::vector<Segment> out;
  for (const Segment& s : pass1) {
    if (s.id >= 0) {
      out.push_back(s);
    } else {
      second.split(text, s.begin, s.end, out);
    }
  }
  return out;
}

}  // namespace dsrl
