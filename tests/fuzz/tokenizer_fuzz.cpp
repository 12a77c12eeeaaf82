// libFuzzer target: the byte-level BPE tokenizer (model/bpe_tokenizer.h) on arbitrary bytes: encode never fails
// and decode(encode(x)) == x; and arbitrary ids decode to text or to dsrl::Error (an id that is not a token).
// The tokenizer is a small one written at start-up: the 256 byte tokens, merges for common English pairs, the
// DeepSeek-V3 pre-tokenizer regexes and two special tokens.
#include <cstring>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/pretokenize.h"
#include "model/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::unique_ptr<dsrl::Tokenizer> make_tokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[dsrl::pretok::byte_to_char_utf8(static_cast<uint8_t>(b))] = b;
  nlohmann::json merges = nlohmann::json::array();
  int next = 256;
  for (const char* pair : {"t h", "th e", "i n", "a n", "e r", "o n", "Ġ t", "Ġ the", "r e", "1 2"}) {
    merges.push_back(pair);
    std::string joined(pair);
    joined.erase(joined.find(' '), 1);
    vocab[joined] = next++;
  }
  nlohmann::json specials = nlohmann::json::array();
  for (const char* s : {"<｜begin▁of▁sentence｜>", "<｜User｜>"})
    specials.push_back({{"id", next++}, {"content", s}, {"special", true}, {"single_word", false},
                        {"lstrip", false}, {"rstrip", false}, {"normalized", false}});
  // DeepSeek-V3's three Splits, their regexes as its tokenizer.json spells them (model/pretokenize.h).
  const char* patterns[] = {
      "\\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
      " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"};
  nlohmann::json steps = nlohmann::json::array();
  for (const char* pattern : patterns)
    steps.push_back(
        {{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}});
  steps.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}});
  const nlohmann::json config = {
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", steps}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"added_tokens", specials},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  const std::string text = config.dump();
  const std::string& path = dsrl::fuzz::scratch_file("tokenizer.json");
  dsrl::fuzz::write_file(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  return dsrl::load_tokenizer(path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<dsrl::Tokenizer> tokenizer = make_tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tokenizer->encode(text);
  dsrl::fuzz::require(tokenizer->decode(ids) == text, "decode(encode(text)) != text");
  std::vector<int32_t> raw(size / 4);
  if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * 4);
  dsrl::fuzz::refusing_is_fine([&] { tokenizer->decode(raw); });
  return 0;
}
