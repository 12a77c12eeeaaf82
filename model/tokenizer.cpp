// load_tokenizer and ByteTokenizer. The byte-level BPE tokenizer lives in model/bpe_tokenizer.{h,cpp}.
#include "model/tokenizer.h"

#include <filesystem>

#include "common/error.h"
#include "model/added_tokens.h"
#include "model/bpe_tokenizer.h"

namespace dsrl {

const std::vector<std::string>& byte_tokenizer_specials() {
  static const std::vector<std::string> specials = {
      "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<｜User｜>", "<｜Assistant｜>",
      "<think>", "</think>",
      "｜DSML｜",  // the tool-call marker of DeepSeek-V3.2: "<｜DSML｜function_calls>", "<｜DSML｜invoke ...>"
  };
  return specials;
}

namespace {

// Ids 0..255 are the bytes of the text; 256.. the special tokens, matched longest-first like added tokens.
class ByteTokenizer final : public Tokenizer {
 public:
  ByteTokenizer() {
    const auto& specials = byte_tokenizer_specials();
    for (size_t i = 0; i < specials.size(); ++i) {
      AddedToken t;
      t.content = specials[i];
      t.id = static_cast<int32_t>(256 + i);
      t.special = true;
      matcher_.add(t);
    }
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<Segment> segments;
    matcher_.split(text, 0, text.size(), segments);
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (const Segment& s : segments) {
      if (s.id >= 0) {
        ids.push_back(s.id);
        continue;
      }
      for (size_t i = s.begin; i < s.end; ++i) ids.push_back(static_cast<uint8_t>(text[i]));
    }
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
      const int32_t id = ids[i];
      DSRL_CHECK(id >= 0 && id < vocab_size(), "decode: id {} at position {} is out of range for the byte "
                 "tokenizer (ids must be in [0, {}))", id, i, vocab_size());
      if (id < 256) {
        out.push_back(static_cast<char>(id));
      } else {
        out += byte_tokenizer_specials()[id - 256];
      }
    }
    return out;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(256 + byte_tokenizer_specials().size()); }

  std::optional<int32_t> token_id(std::string_view token) const override {
    const auto& specials = byte_tokenizer_specials();
    for (size_t i = 0; i < specials.size(); ++i) {
      if (specials[i] == token) return static_cast<int32_t>(256 + i);
    }
    if (token.size() == 1) return static_cast<uint8_t>(token[0]);
    return std::nullopt;
  }

 private:
  AddedTokenMatcher matcher_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() { return std::make_unique<ByteTokenizer>(); }

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  if (path == "byte") return make_byte_tokenizer();
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path file = fs::path(path) / "tokenizer.json";
    DSRL_CHECK(fs::is_regular_file(file, ec), "tokenizer folder {} has no tokenizer.json (expected {})", path,
               file.string());
    return BpeTokenizer::load(file.string());
  }
  DSRL_CHECK(fs::is_regular_file(path, ec), "tokenizer {} not found: expected \"byte\", a tokenizer.json file or "
             "a folder holding one", path);
  return BpeTokenizer::load(path);
}

}  // namespace dsrl
