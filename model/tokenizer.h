// Text <-> token ids, torch-free (library dsrl_text).
//   auto tok = dsrl::load_tokenizer("/ckpt/DeepSeek-V3.2");      // folder with tokenizer.json, the file, or "byte"
//   std::vector<int32_t> ids = tok->encode("<｜User｜>hi<｜Assistant｜>");   // special tokens become their ids
//   std::string text = tok->decode(ids);                          // == the input
// Two implementations: byte-level BPE read from a HF tokenizer.json (model/bpe_tokenizer.h), reproducing HF
// tokenizers' encode(text, add_special_tokens=False) id for id, and ByteTokenizer, a fixed tokenizer for tests
// and demos that needs no files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsrl {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Text -> ids. Added/special tokens written literally in the text (e.g. "<｜User｜>", "<think>") become their
  // ids, as HF tokenizers' encode(text, add_special_tokens=False) does. Nothing is prepended or appended.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Ids -> text, special tokens included; the inverse of encode. The bytes are returned as they are: a sequence
  // cut inside a multi-byte character gives invalid UTF-8 rather than U+FFFD. Throws dsrl::Error on an id
  // outside [0, vocab_size()) or one that names no token.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // One more than the largest id (added tokens included); embedding tables may be larger.
  virtual int32_t vocab_size() const = 0;
  // The id of a special/added token or of any vocabulary token (written as in tokenizer.json), if there is one.
  virtual std::optional<int32_t> token_id(std::string_view token) const = 0;
};

// "byte" -> ByteTokenizer; otherwise a tokenizer.json file or a folder holding one. Throws dsrl::Error naming
// the file when it is missing, malformed or uses a feature we do not implement.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// ByteTokenizer: ids 0..255 are the bytes, then the special tokens below (in this order), recognised in text.
std::unique_ptr<Tokenizer> make_byte_tokenizer();
// The special tokens of ByteTokenizer, in id order starting at 256: DeepSeek-V3.2's chat markers.
const std::vector<std::string>& byte_tokenizer_specials();

}  // namespace dsrl
