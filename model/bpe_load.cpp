// Reading a HF tokenizer.json into BpeTokenizer. Everything that would make our ids differ from HF's is
// refused with an error naming the file and the unsupported setting (see model/bpe_tokenizer.h).
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/bpe_tokenizer.h"

namespace dsrl {

namespace {

using json = nlohmann::json;

std::string type_of(const json& j) { return j.is_object() ? j.value("type", std::string("<no type>")) : j.dump(); }

bool flag(const json& obj, const char* key, bool fallback, const std::string& where, const std::string& file) {
  if (!obj.contains(key) || obj[key].is_null()) return fallback;
  DSRL_CHECK(obj[key].is_boolean(), "{}: {}.{} must be true or false, got {}", file, where, key, obj[key].dump());
  return obj[key].get<bool>();
}

void check_normalizer(const json& n, const std::string& file) {
  const bool identity = n.is_null() || (type_of(n) == "Sequence" && n.value("normalizers", json::array()).empty());
  DSRL_CHECK(identity, "{}: normalizer {} is not supported (only none or an empty Sequence): tokenizing without "
             "it would give different ids", file, type_of(n));
}

pretok::Pattern parse_split(const json& split, const std::string& where, const std::string& file) {
  const std::string behavior = split.value("behavior", std::string());
  DSRL_CHECK(behavior == "Isolated", "{}: {}.behavior \"{}\" is not supported (only \"Isolated\")", file, where,
             behavior);
  DSRL_CHECK(!flag(split, "invert", false, where, file), "{}: {}.invert = true is not supported", file, where);
  const json& pattern = split.at("pattern");
  if (pattern.contains("String")) {
    const std::string literal = pattern["String"].get<std::string>();
    DSRL_CHECK(!literal.empty(), "{}: {}.pattern.String is empty", file, where);
    return {pretok::PatternKind::kLiteral, pretok::decode_utf8(literal).cps};
  }
  DSRL_CHECK(pattern.contains("Regex"), "{}: {}.pattern must hold \"Regex\" or \"String\", got {}", file, where,
             pattern.dump());
  const std::string regex = pattern["Regex"].get<std::string>();
  const auto kind = pretok::pattern_from_regex(regex);
  DSRL_CHECK(kind.has_value(), "{}: {}.pattern.Regex {} is not one we implement (GPT-2's and DeepSeek-V3's "
             "patterns are; see model/pretokenize.h)", file, where, json(regex).dump());
  return {*kind, {}};
}

ByteLevelOptions parse_byte_level(const json& bl, const std::string& where, const std::string& file) {
  return {flag(bl, "add_prefix_space", true, where, file), flag(bl, "use_regex", true, where, file)};
}

// ByteLevel alone, or a Sequence of Splits that ends in ByteLevel.
void parse_pre_tokenizer(const json& pt, const std::string& file, std::vector<pretok::Pattern>& splits,
                         ByteLevelOptions& byte_level) {
  const std::string type = pt.is_null() ? "null" : type_of(pt);
  if (type == "ByteLevel") {
    byte_level = parse_byte_level(pt, "pre_tokenizer", file);
    return;
  }
  DSRL_CHECK(type == "Sequence", "{}: pre_tokenizer {} is not supported (only ByteLevel, or a Sequence of Split "
             "ending in ByteLevel: byte-level BPE)", file, type);
  const json& items = pt.at("pretokenizers");
  DSRL_CHECK(!items.empty() && type_of(items.back()) == "ByteLevel",
             "{}: pre_tokenizer Sequence must end in ByteLevel (byte-level BPE), got [{}]", file,
             items.empty() ? "" : type_of(items.back()));
  for (size_t i = 0; i + 1 < items.size(); ++i) {
    const std::string where = "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]";
    DSRL_CHECK(type_of(items[i]) == "Split", "{}: {} is a {} pre-tokenizer, which is not supported (only Split "
               "before the final ByteLevel)", file, where, type_of(items[i]));
    splits.push_back(parse_split(items[i], where, file));
  }
  byte_level = parse_byte_level(items.back(), "pre_tokenizer.pretokenizers[-1]", file);
}

void check_model_options(const json& model, const std::string& file) {
  DSRL_CHECK(model.value("type", std::string("BPE")) == "BPE", "{}: model.type {} is not supported (only BPE)",
             file, type_of(model));
  const json dropout = model.value("dropout", json());
  DSRL_CHECK(dropout.is_null() || dropout == 0, "{}: model.dropout = {} is not supported (BPE dropout is random)",
             file, dropout.dump());
  DSRL_CHECK(!flag(model, "byte_fallback", false, "model", file), "{}: model.byte_fallback is not supported", file);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json v = model.value(key, json());
    DSRL_CHECK(v.is_null() || v == "", "{}: model.{} = {} is not supported", file, key, v.dump());
  }
}

}  // namespace

std::unique_ptr<BpeTokenizer> BpeTokenizer::load(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  DSRL_CHECK(in.good(), "cannot open tokenizer file {}: {}", file, std::strerror(errno));
  json root;
  try {
    root = json::parse(in);
  } catch (const json::parse_error& e) {
    DSRL_FAIL("{} is not valid JSON: {}", file, e.what());
  }
  DSRL_CHECK(root.is_object() && root.contains("model"), "{}: not a HF tokenizer.json (no \"model\" object)", file);
  auto tok = std::unique_ptr<BpeTokenizer>(new BpeTokenizer());
  tok->file_ = file;
  try {
    check_normalizer(root.value("normalizer", json()), file);
    const json& model = root["model"];
    check_model_options(model, file);
    parse_pre_tokenizer(root.value("pre_tokenizer", json()), file, tok->splits_, tok->byte_level_);
    const json decoder = root.value("decoder", json());
    DSRL_CHECK(type_of(decoder) == "ByteLevel", "{}: decoder {} is not supported (only ByteLevel)", file,
               decoder.is_null() ? "null" : type_of(decoder));
    tok->load_vocab(model, root.value("added_tokens", json::array()));
  } catch (const json::exception& e) {
    DSRL_FAIL("{}: unexpected tokenizer.json structure: {}", file, e.what());
  }
  return tok;
}

void BpeTokenizer::load_vocab(const json& model, const json& added_tokens) {
  DSRL_CHECK(model.contains("vocab") && model["vocab"].is_object(), "{}: model.vocab must be an object", file_);
  int32_t max_id = -1;
  for (const auto& [token, id] : model["vocab"].items()) {
    vocab_[token] = id.get<int32_t>();
    max_id = std::max(max_id, id.get<int32_t>());
  }
  for (const json& t : added_tokens) {
    DSRL_CHECK(!flag(t, "single_word", false, "added_tokens[]", file_), "{}: added token {} has single_word = true, "
               "which is not supported", file_, t.value("content", std::string()));
    AddedToken a;
    a.content = t.at("content").get<std::string>();
    a.id = t.at("id").get<int32_t>();
    a.special = flag(t, "special", false, "added_tokens[]", file_);
    a.normalized = flag(t, "normalized", !a.special, "added_tokens[]", file_);
    a.lstrip = flag(t, "lstrip", false, "added_tokens[]", file_);
    a.rstrip = flag(t, "rstrip", false, "added_tokens[]", file_);
    (a.normalized ? second_pass_ : first_pass_).add(a);
    added_[a.content] = a.id;
    max_id = std::max(max_id, a.id);
  }
  id_bytes_.assign(static_cast<size_t>(max_id + 1), std::string());
  id_known_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : vocab_) {
    DSRL_CHECK(id >= 0, "{}: model.vocab[{}] = {} is negative", file_, json(token).dump(), id);
    // HF's ByteLevel decoder: a token made only of byte-level characters stands for those bytes; any other
    // token (e.g. a special token kept in the vocab) for its own UTF-8 text.
    id_bytes_[id] = pretok::byte_level_to_bytes(token).value_or(token);
    id_known_[id] = true;
  }
  for (const auto& [content, id] : added_) {  // added tokens decode to their text, so decode(encode(x)) == x
    DSRL_CHECK(id >= 0, "{}: added token {} has a negative id {}", file_, json(content).dump(), id);
    id_bytes_[id] = content;
    id_known_[id] = true;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(pretok::byte_to_char_utf8(static_cast<uint8_t>(b)));
    byte_id_[b] = it == vocab_.end() ? -1 : it->second;
  }
  ignore_merges_ = flag(model, "ignore_merges", false, "model", file_);
  load_merges(model.value("merges", json::array()));
}

void BpeTokenizer::load_merges(const json& merges) {
  merges_.reserve(merges.size());
  auto id_of = [&](const std::string& token, size_t rank, const std::string& pair) {
    auto it = vocab_.find(token);
    DSRL_CHECK(it != vocab_.end(), "{}: model.merges[{}] {}: token {} is not in model.vocab", file_, rank,
               json(pair).dump(), json(token).dump());
    return it->second;
  };
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    std::string a, b;
    if (m.is_string()) {  // "a b"
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      DSRL_CHECK(space != std::string::npos && s.find(' ', space + 1) == std::string::npos,
                 "{}: model.merges[{}] must be two tokens separated by one space, got {}", file_, rank, m.dump());
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else {  // ["a", "b"]
      DSRL_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                 "{}: model.merges[{}] must be \"a b\" or [\"a\", \"b\"], got {}", file_, rank, m.dump());
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    }
    const std::string pair = a + " " + b;
    const int32_t left = id_of(a, rank, pair);
    const int32_t right = id_of(b, rank, pair);
    const int32_t merged = id_of(a + b, rank, pair);
    merges_[pair_key(left, right)] = Merge{static_cast<int32_t>(rank), merged};
  }
}

}  // namespace dsrl
