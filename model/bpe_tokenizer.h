// Byte-level BPE from a HF tokenizer.json (GPT-2, DeepSeek-V3/V3.2 and tokenizers trained like them).
// What is read, and what is refused rather than tokenized differently (model/bpe_load.cpp):
//   model         BPE: vocab, merges ("a b" strings or [a, b] lists), ignore_merges. Refused: dropout,
//                 byte_fallback, continuing_subword_prefix, end_of_word_suffix.
//   normalizer    none or an empty Sequence. Anything else is refused.
//   pre_tokenizer ByteLevel (add_prefix_space, use_regex), or a Sequence of Split (a known regex, see
//                 model/pretokenize.h, or a literal String; behavior Isolated, invert false) ending in ByteLevel.
//   added_tokens  special and not; lstrip / rstrip; normalized picks HF's matching pass. Refused: single_word.
//   decoder       ByteLevel.
//   post_processor, truncation, padding: not applied (encode is add_special_tokens=False and never truncates).
#pragma once

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/added_tokens.h"
#include "model/pretokenize.h"
#include "model/tokenizer.h"

namespace dsrl {

struct ByteLevelOptions {
  bool add_prefix_space = true;  // prepend " " to a piece that does not start with one
  bool use_regex = true;         // split with GPT-2's pattern
};

class BpeTokenizer final : public Tokenizer {
 public:
  static std::unique_ptr<BpeTokenizer> load(const std::string& file);  // model/bpe_load.cpp

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(id_bytes_.size()); }
  std::optional<int32_t> token_id(std::string_view token) const override;

 private:
  struct Merge {
    int32_t rank;    // position in the merges list: lower merges first
    int32_t merged;  // id of the merged token
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  BpeTokenizer() = default;
  void load_vocab(const nlohmann::json& model, const nlohmann::json& added_tokens);  // model.vocab, added_tokens
  void load_merges(const nlohmann::json& merges);

  // One pre-token (raw bytes) -> ids, through the cache.
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;
  std::vector<int32_t> bpe(std::string_view bytes) const;
  // Text between added tokens -> the pre-tokens BPE sees.
  void pre_tokenize(std::string_view text, std::vector<std::string>& pieces) const;

  std::string file_;                                 // where it came from, for error messages
  std::unordered_map<std::string, int32_t> vocab_;   // model.vocab: byte-level token string -> id
  std::unordered_map<std::string, int32_t> added_;   // added token content -> id
  std::array<int32_t, 256> byte_id_{};               // the id of each single byte, -1 when the vocab lacks it
  std::unordered_map<uint64_t, Merge> merges_;       // (left id, right id) -> merge
  bool ignore_merges_ = false;                       // a pre-token found whole in the vocab is one token
  std::vector<std::string> id_bytes_;                // id -> the bytes it decodes to
  std::vector<bool> id_known_;                       // false for ids that name no token (holes)
  AddedTokenMatcher first_pass_, second_pass_;       // added tokens with normalized=false / true
  std::vector<pretok::Pattern> splits_;              // the Split pre-tokenizers, in order
  ByteLevelOptions byte_level_;

  static constexpr size_t kCacheMaxEntries = 1 << 17;
  static constexpr size_t kCacheMaxPieceBytes = 64;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;  // pre-token -> ids
};

}  // namespace dsrl
