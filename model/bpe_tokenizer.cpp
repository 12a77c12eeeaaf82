// Byte-level BPE: encoding (added tokens -> pre-tokenizers -> BPE merges per pre-token) and decoding.
#include "model/bpe_tokenizer.h"

#include <algorithm>

#include "common/error.h"

namespace dsrl {

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  std::vector<std::string> pieces;
  for (const Segment& seg : split_added_tokens(text, first_pass_, second_pass_)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    pieces.clear();
    pre_tokenize(text.substr(seg.begin, seg.end - seg.begin), pieces);
    for (const std::string& piece : pieces) encode_piece(piece, ids);
  }
  return ids;
}

void BpeTokenizer::pre_tokenize(std::string_view text, std::vector<std::string>& pieces) const {
  const pretok::CodePoints cp = pretok::decode_utf8(text);
  if (cp.cps.empty()) return;
  std::vector<pretok::Span> spans{{0, static_cast<uint32_t>(cp.cps.size())}}, next;
  for (const pretok::Pattern& pattern : splits_) {  // each Split cuts every piece of the previous one
    next.clear();
    for (const pretok::Span& span : spans) pretok::split_isolated(pattern, cp.cps, span, next);
    spans.swap(next);
  }
  // ByteLevel: optionally " " in front of each piece, then optionally GPT-2's split of it.
  static const pretok::Pattern kGpt2{pretok::PatternKind::kGpt2, {}};
  std::vector<pretok::Span> words;
  for (const pretok::Span& span : spans) {
    std::string_view bytes = text.substr(cp.offsets[span.begin], cp.offsets[span.end] - cp.offsets[span.begin]);
    std::string prefixed;
    if (byte_level_.add_prefix_space && cp.cps[span.begin] != U' ') {
      prefixed = " " + std::string(bytes);
      bytes = prefixed;
    }
    if (!byte_level_.use_regex) {
      pieces.emplace_back(bytes);
      continue;
    }
    const pretok::CodePoints piece = pretok::decode_utf8(bytes);
    words.clear();
    pretok::split_isolated(kGpt2, piece.cps, {0, static_cast<uint32_t>(piece.cps.size())}, words);
    for (const pretok::Span& w : words) {
      pieces.emplace_back(bytes.substr(piece.offsets[w.begin], piece.offsets[w.end] - piece.offsets[w.begin]));
    }
  }
}

void BpeTokenizer::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  const bool cacheable = bytes.size() <= kCacheMaxPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(bytes));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = bpe(bytes);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kCacheMaxEntries) cache_.clear();  // a crude bound: texts rarely have this many words
    cache_.emplace(std::string(bytes), std::move(ids));
  }
}

namespace {
struct Symbol {
  int32_t id;
  int32_t prev, next;  // neighbours still alive, -1 at the ends
  bool alive;
};
struct Candidate {  // a merge that may apply at symbol `pos` and its right neighbour
  int32_t rank, pos, merged;
  bool operator<(const Candidate& o) const {  // "less urgent", for std::push_heap's max-heap
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};
}  // namespace

// HF's merge order: repeatedly apply the applicable merge of lowest rank, the leftmost one on ties. A heap of
// candidate merges; an entry is stale when its left symbol was merged away or its pair changed since.
std::vector<int32_t> BpeTokenizer::bpe(std::string_view bytes) const {
  if (ignore_merges_) {
    auto it = vocab_.find(pretok::bytes_to_byte_level(bytes));
    if (it != vocab_.end()) return {it->second};
  }
  const auto n = static_cast<int32_t>(bytes.size());
  std::vector<Symbol> sym(bytes.size());
  for (int32_t i = 0; i < n; ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    DSRL_CHECK(byte_id_[b] >= 0, "{}: model.vocab has no token for byte 0x{:02X} (\"{}\"); a byte-level BPE "
               "vocabulary must hold all 256 byte characters", file_, b, pretok::byte_to_char_utf8(b));
    sym[i] = {byte_id_[b], i - 1, i + 1 < n ? i + 1 : -1, true};
  }
  std::vector<Candidate> heap;
  auto consider = [&](int32_t left) {
    if (left < 0 || sym[left].next < 0) return;
    auto it = merges_.find(pair_key(sym[left].id, sym[sym[left].next].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, it->second.merged});
    std::push_heap(heap.begin(), heap.end());
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = sym[left.next];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.merged != top.merged) continue;  // stale entry
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    consider(left.prev);
    consider(top.pos);
  }
  std::vector<int32_t> ids;
  for (const Symbol& s : sym) {
    if (s.alive) ids.push_back(s.id);
  }
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    DSRL_CHECK(id >= 0 && id < vocab_size() && id_known_[id],
               "decode: id {} at position {} is not a token of {} (ids must be in [0, {}) and name a token)", id, i,
               file_, vocab_size());
    out += id_bytes_[id];
  }
  return out;
}

std::optional<int32_t> BpeTokenizer::token_id(std::string_view token) const {
  const std::string key(token);
  if (auto it = added_.find(key); it != added_.end()) return it->second;
  if (auto it = vocab_.find(key); it != vocab_.end()) return it->second;
  return std::nullopt;
}

}  // namespace dsrl
