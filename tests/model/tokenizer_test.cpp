// Tokenizer tests. The byte-level BPE is checked id for id against HF tokenizers: scripts/make-tokenizer-fixture.py
// trains two tokenizers with `tokenizers` (DeepSeek-V3's pre-tokenizer on ~1.1 MB of mixed text; GPT-2's
// ByteLevel on 150 KB) and writes HF's ids, which our encode must reproduce.
#include "model/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <system_error>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/pretokenize.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

using testing::error_of;

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::vector<int32_t> read_ids(const fs::path& path) {
  const std::string bytes = read_file(path);
  std::vector<int32_t> ids(bytes.size() / 4);
  std::memcpy(ids.data(), bytes.data(), ids.size() * 4);  // little-endian, as this machine
  return ids;
}

// The fixture is made once per build folder and script version (ctest runs every test in its own process):
// DSRL_BINARY_DIR/tokenizer-fixture-<hash of the script>, written to a temporary folder and renamed into place.
class HfTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string script = DSRL_SOURCE_DIR "/scripts/make-tokenizer-fixture.py";
    char hash[32];
    std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(read_file(script)));
    dir_ = fs::path(DSRL_BINARY_DIR) / ("tokenizer-fixture-" + std::string(hash));
    script_rc_ = 0;
    if (fs::exists(dir_)) return;
    const fs::path tmp = dir_.string() + ".tmp" + std::to_string(::getpid());
    const std::string cmd = "python3 " + script + " " + tmp.string();
    const auto t0 = std::chrono::steady_clock::now();
    script_rc_ = std::system(cmd.c_str());
    std::printf("[fixture] %s: %.1f s\n", cmd.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::error_code ec;
    if (script_rc_ == 0) fs::rename(tmp, dir_, ec);  // fails harmlessly when a parallel test got there first
    fs::remove_all(tmp, ec);
  }
  void SetUp() override {
    ASSERT_EQ(script_rc_, 0) << "scripts/make-tokenizer-fixture.py failed: it needs python3 with HF tokenizers "
                                "(pip install tokenizers; scripts/install-deps.sh installs it)";
  }

  // Encodes the case's text, compares with HF's ids (reporting the first difference with context) and our
  // decode with HF's. Returns the encode time in seconds.
  static double check_case(const std::string& name, bool lossless) {
    const auto tok = load_tokenizer((dir_ / name).string());
    const std::string text = read_file(dir_ / name / "text.txt");
    const std::vector<int32_t> expected = read_ids(dir_ / name / "ids.bin");
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tok->encode(text);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    size_t k = 0;
    while (k < ids.size() && k < expected.size() && ids[k] == expected[k]) ++k;
    if (k < ids.size() || k < expected.size()) {
      const size_t from = k >= 8 ? k - 8 : 0;
      auto window = [&](const std::vector<int32_t>& v) {
        std::string s;
        for (size_t i = from; i < std::min(v.size(), k + 8); ++i) s += (i == k ? " [" : " ") + std::to_string(v[i]);
        return s;
      };
      auto text_of = [&](const std::vector<int32_t>& v) {
        return nlohmann::json(tok->decode({v.begin() + from, v.begin() + std::min(v.size(), k + 8)})).dump();
      };
      ADD_FAILURE() << name << ": first mismatch at id " << k << " of " << expected.size() << " (ours has "
                    << ids.size() << ")\n  HF:  " << window(expected) << "  " << text_of(expected)
                    << "\n  ours:" << window(ids) << "  " << text_of(ids);
    }
    const std::string decoded = tok->decode(expected);
    EXPECT_TRUE(decoded == read_file(dir_ / name / "decoded.txt")) << name << ": our decode differs from HF's";
    // Lossless unless the tokenizer edits the text (add_prefix_space, added tokens that strip whitespace).
    if (lossless) EXPECT_TRUE(decoded == text) << name << ": decode(encode(text)) differs from the text";
    std::printf("[%s] %zu bytes -> %zu ids in %.3f s\n", name.c_str(), text.size(), ids.size(), seconds);
    return seconds;
  }

  static fs::path dir_;
  static int script_rc_;
};
fs::path HfTokenizer::dir_;
int HfTokenizer::script_rc_ = -1;

TEST_F(HfTokenizer, DeepSeekPreTokenizerMatchesHfOnAMegabyte) {
  const double seconds = check_case("deepseek", /*lossless=*/true);
  EXPECT_LT(seconds, 10.0) << "encoding 1.1 MB should take well under a few seconds";
}

TEST_F(HfTokenizer, Gpt2ByteLevelWithPrefixSpaceAndStrippingAddedTokensMatchesHf) {
  check_case("gpt2", /*lossless=*/false);
  // The edits: a space before each piece that lacks one, whitespace taken by <mask> (lstrip) and [SEP] (rstrip).
  const auto tok = load_tokenizer((dir_ / "gpt2").string());
  EXPECT_EQ(tok->decode(tok->encode("Hi  <mask> [SEP]  x")), " Hi<mask> [SEP] x");
}

TEST_F(HfTokenizer, MergesWrittenAsStringsGiveTheSameIds) {
  nlohmann::json j = nlohmann::json::parse(read_file(dir_ / "gpt2" / "tokenizer.json"));
  for (auto& m : j["model"]["merges"]) m = m[0].get<std::string>() + " " + m[1].get<std::string>();
  const fs::path file = fs::temp_directory_path() / ("dsrl-string-merges-" + std::to_string(::getpid()) + ".json");
  write_file(file, j.dump());
  const std::string text = read_file(dir_ / "gpt2" / "text.txt");
  EXPECT_EQ(load_tokenizer(file.string())->encode(text), read_ids(dir_ / "gpt2" / "ids.bin"));
  fs::remove(file);
}

TEST_F(HfTokenizer, SpecialAndAddedTokensAreFoundLongestFirst) {
  const auto tok = load_tokenizer((dir_ / "deepseek" / "tokenizer.json").string());
  EXPECT_EQ(tok->vocab_size(), 6004);
  EXPECT_EQ(tok->token_id("<｜User｜>"), 2);
  EXPECT_EQ(tok->token_id("<think>"), 6000);
  EXPECT_EQ(tok->token_id("<|tool|>call"), 6003);
  EXPECT_TRUE(tok->token_id("Ġthe").has_value());  // a vocabulary token, written byte-level
  EXPECT_FALSE(tok->token_id("no such token").has_value());
  EXPECT_EQ(tok->encode("<｜User｜><think><|tool|>call<|tool|>"), (std::vector<int32_t>{2, 6000, 6003, 6002}));
  const std::vector<int32_t> ids = tok->encode("hi<｜Assistant｜>");
  EXPECT_EQ(ids.back(), 3);
  EXPECT_EQ(tok->decode(ids), "hi<｜Assistant｜>");
}

TEST_F(HfTokenizer, AnyBytesRoundTripIncludingInvalidUtf8) {
  const auto tok = load_tokenizer((dir_ / "deepseek").string());
  std::string bytes;
  uint32_t x = 12345;
  for (int i = 0; i < 100000; ++i) {
    x = x * 1664525u + 1013904223u;
    bytes.push_back(static_cast<char>(x >> 24));
  }
  bytes += "\xE4\xBD" "abc\xF0\x9F\x98" "\xC0\xAF\xED\xA0\x80";  // cut, overlong, surrogate
  EXPECT_TRUE(tok->decode(tok->encode(bytes)) == bytes);
}

TEST(PreTokenize, DeepSeekSplitsIsolateDigitTriplesCjkRunsAndWords) {
  using namespace pretok;
  auto split = [](std::vector<Pattern> patterns, const std::string& s) {
    const CodePoints cp = decode_utf8(s);
    std::vector<Span> spans{{0, static_cast<uint32_t>(cp.cps.size())}}, next;
    for (const Pattern& p : patterns) {
      next.clear();
      for (const Span& sp : spans) split_isolated(p, cp.cps, sp, next);
      spans.swap(next);
    }
    std::vector<std::string> out;
    for (const Span& sp : spans) {
      out.push_back(s.substr(cp.offsets[sp.begin], cp.offsets[sp.end] - cp.offsets[sp.begin]));
    }
    return out;
  };
  const std::vector<Pattern> ds = {{PatternKind::kDigits3, {}}, {PatternKind::kCjk, {}}, {PatternKind::kDeepSeek, {}}};
  EXPECT_EQ(split(ds, "Hello world1234567 你好abc"),
            (std::vector<std::string>{"Hello", " world", "123", "456", "7", " ", "你好", "abc"}));
  EXPECT_EQ(split(ds, "x.append(y)  \n\n  z"),
            (std::vector<std::string>{"x", ".append", "(y", ")", "  \n\n", " ", " z"}));
  EXPECT_EQ(split({{PatternKind::kGpt2, {}}}, "I'm here  now!!"),
            (std::vector<std::string>{"I", "'m", " here", " ", " now", "!!"}));
  EXPECT_EQ(pattern_from_regex(R"(\p{N}{1,3})"), PatternKind::kDigits3);
  EXPECT_FALSE(pattern_from_regex(R"(\p{N})").has_value());
}

TEST(ByteTokenizer, BytesThenSpecialTokensRecognisedInText) {
  const auto tok = load_tokenizer("byte");
  EXPECT_EQ(tok->vocab_size(), 256 + static_cast<int32_t>(byte_tokenizer_specials().size()));
  EXPECT_EQ(tok->token_id("<｜begin▁of▁sentence｜>"), 256);
  EXPECT_EQ(tok->token_id("<｜User｜>"), 259);
  EXPECT_EQ(tok->token_id("a"), 97);
  EXPECT_EQ(tok->encode("hi<｜User｜>x"), (std::vector<int32_t>{104, 105, 259, 120}));
  EXPECT_EQ(tok->encode("<think"), (std::vector<int32_t>{'<', 't', 'h', 'i', 'n', 'k'}));
  std::string all = "é😀\n";
  for (const std::string& s : byte_tokenizer_specials()) all += s + "x";
  const std::vector<int32_t> ids = tok->encode(all);
  EXPECT_EQ(ids.size(), std::string("é😀\n").size() + 2 * byte_tokenizer_specials().size());
  EXPECT_EQ(tok->decode(ids), all);
  const std::string msg = error_of([&] { tok->decode({1, 264 + 100}); });
  EXPECT_NE(msg.find("id 364 at position 1 is out of range"), std::string::npos) << msg;
}

// Error cases: each message names the file and what is wrong.
class TokenizerErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsrl-tokenizer-errors-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A minimal valid byte-level BPE tokenizer.json: the 256 byte characters and one merge ("a" "b").
  nlohmann::json minimal() const {
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b) vocab[pretok::byte_to_char_utf8(static_cast<uint8_t>(b))] = b;
    vocab["ab"] = 256;
    return {{"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"decoder", {{"type", "ByteLevel"}}},
            {"added_tokens", nlohmann::json::array()},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b"}}}}};
  }
  std::string load_error(const std::string& text) {
    const fs::path file = dir_ / "tokenizer.json";
    write_file(file, text);
    return error_of([&] { load_tokenizer(file.string()); });
  }
  fs::path dir_;
};

TEST_F(TokenizerErrors, MinimalFileLoadsAndEncodes) {
  write_file(dir_ / "tokenizer.json", minimal().dump());
  const auto tok = load_tokenizer(dir_.string());
  EXPECT_EQ(tok->encode("ab a"), (std::vector<int32_t>{256, ' ', 'a'}));
  const std::string msg = error_of([&] { tok->decode({256, 257}); });
  EXPECT_NE(msg.find("id 257 at position 1 is not a token of " + (dir_ / "tokenizer.json").string()),
            std::string::npos) << msg;
  EXPECT_NE(error_of([&] { tok->decode({-1}); }).find("id -1 at position 0"), std::string::npos);
}

TEST_F(TokenizerErrors, MissingFileOrFolder) {
  std::string msg = error_of([&] { load_tokenizer((dir_ / "nope.json").string()); });
  EXPECT_NE(msg.find("tokenizer " + (dir_ / "nope.json").string() + " not found"), std::string::npos) << msg;
  msg = error_of([&] { load_tokenizer(dir_.string()); });
  EXPECT_NE(msg.find("tokenizer folder " + dir_.string() + " has no tokenizer.json"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, MalformedJson) {
  const std::string msg = load_error("{\"model\": {\"vocab\": ");
  EXPECT_NE(msg.find((dir_ / "tokenizer.json").string() + " is not valid JSON"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, UnsupportedModelNormalizerPreTokenizerAndSplit) {
  const std::string file = (dir_ / "tokenizer.json").string();
  nlohmann::json j = minimal();
  j["model"]["type"] = "WordPiece";
  std::string msg = load_error(j.dump());
  EXPECT_NE(msg.find(file + ": model.type WordPiece is not supported (only BPE)"), std::string::npos) << msg;

  j = minimal();
  j["normalizer"] = {{"type", "NFKC"}};
  msg = load_error(j.dump());
  EXPECT_NE(msg.find(file + ": normalizer NFKC is not supported"), std::string::npos) << msg;

  j = minimal();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  msg = load_error(j.dump());
  EXPECT_NE(msg.find(file + ": pre_tokenizer Whitespace is not supported"), std::string::npos) << msg;

  j = minimal();
  nlohmann::json split = {{"type", "Split"}, {"pattern", {{"Regex", "\\d+"}}}, {"behavior", "Isolated"}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, {{"type", "ByteLevel"}}}}};
  msg = load_error(j.dump());
  EXPECT_NE(msg.find(file + ": pre_tokenizer.pretokenizers[0].pattern.Regex \"\\\\d+\" is not one we implement"),
            std::string::npos) << msg;

  split["pattern"] = {{"Regex", "\\p{N}{1,3}"}};
  split["behavior"] = "Removed";
  j["pre_tokenizer"]["pretokenizers"][0] = split;
  msg = load_error(j.dump());
  EXPECT_NE(msg.find("behavior \"Removed\" is not supported"), std::string::npos) << msg;

  j = minimal();
  j["model"]["merges"] = {"a zz"};
  msg = load_error(j.dump());
  EXPECT_NE(msg.find(file + ": model.merges[0] \"a zz\": token \"zz\" is not in model.vocab"), std::string::npos)
      << msg;
}

}  // namespace
}  // namespace dsrl
