// The torch-free data pipeline: readers, packing and loss mask, order, sharding, resume, synthetic corpora.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>

#include "trainer/data_loader.h"
#include "trainer/grpo_data.h"
#include "trainer/data_synthetic.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

namespace fs = std::filesystem;

// ByteTokenizer ids: bytes are themselves, then the specials from 256 (model/tokenizer.h).
constexpr int32_t kEos = 257, kPad = 258;
int32_t b(char c) { return static_cast<unsigned char>(c); }

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsrl_data_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  static std::string error_of(const std::function<void()>& f) { return testing::error_of(f); }
  fs::path dir_;
  std::unique_ptr<Tokenizer> tok_ = load_tokenizer("byte");
};

DataConfig synthetic_config(const std::string& task, int64_t count, int64_t seq_len, uint64_t seed) {
  DataConfig c;
  c.synthetic.task = task;
  c.synthetic.count = count;
  c.seq_len = seq_len;
  c.seed = seed;
  c.sft = true;
  return c;
}

// --- readers ----------------------------------------------------------------------------------------------

TEST_F(DataTest, TextReaderSplitsOnBlankLines) {
  const auto docs = read_text_documents(write("a.txt", "\nline1\nline2\n\n \t\nnext\r\n\n\nlast"));
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].response, "line1\nline2");
  EXPECT_EQ(docs[1].response, "next");  // CRLF read as LF
  EXPECT_EQ(docs[2].response, "last");
  EXPECT_TRUE(docs[0].prompt.empty());
}

TEST_F(DataTest, JsonlReaderPlainAndPairs) {
  DataSourceConfig s;
  s.format = "jsonl";
  s.path = write("a.jsonl", "{\"text\": \"hello\", \"x\": 1}\n\n{\"text\": \"w\\u00f6rld\"}\n");
  auto docs = read_documents(s);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1].response, "w\xc3\xb6rld");

  s.path = write("b.jsonl", "{\"q\": \"2+2?\", \"a\": \"4\"}\n");
  s.prompt_field = "q";
  s.response_field = "a";
  docs = read_documents(s);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].prompt, "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜></think>");
  EXPECT_EQ(docs[0].response, "4<｜end▁of▁sentence｜>");
  s.chat = false;
  docs = read_documents(s);
  EXPECT_EQ(docs[0].prompt, "2+2?");
  EXPECT_EQ(docs[0].response, "4");
}

TEST_F(DataTest, ReaderErrorsNameFileLineAndField) {
  DataSourceConfig s;
  s.format = "jsonl";
  s.path = (dir_ / "missing.jsonl").string();
  EXPECT_NE(error_of([&] { read_documents(s); }).find("cannot open jsonl file '" + s.path + "'"), std::string::npos);
  EXPECT_NE(error_of([&] { read_text_documents(s.path); }).find(s.path), std::string::npos);

  s.path = write("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": oops}\n");
  EXPECT_NE(error_of([&] { read_documents(s); }).find(s.path + ":2: not valid JSON"), std::string::npos);
  s.path = write("field.jsonl", "{\"body\": \"ok\"}\n");
  EXPECT_NE(error_of([&] { read_documents(s); }).find(s.path + ":1: missing string field \"text\""),
            std::string::npos);
  s.path = write("type.jsonl", "{\"text\": 3}\n");
  EXPECT_NE(error_of([&] { read_documents(s); }).find("field \"text\" must be a string, got number"),
            std::string::npos);
  s.path = write("array.jsonl", "[1]\n");
  EXPECT_NE(error_of([&] { read_documents(s); }).find(":1: expected a JSON object"), std::string::npos);
}

// --- config -----------------------------------------------------------------------------------------------

struct Root {
  DataConfig data;
};
void describe(ConfigIO& io, Root& r) { io.section("data", r.data); }

TEST_F(DataTest, ConfigParsesAndRejectsWithKeyAndFile) {
  const std::string good = write("good.yaml",
                                 "data:\n  seq_len: 8\n  sft: true\n  sources:\n    - {path: x.jsonl, format: jsonl, "
                                 "prompt_field: q, response_field: a, weight: 0.5}\n  synthetic: {task: copy, count: 3}\n");
  const Root r = parse_config<Root>(load_yaml(good), good);
  EXPECT_EQ(r.data.seq_len, 8);
  EXPECT_TRUE(r.data.sft);
  ASSERT_EQ(r.data.sources.size(), 1u);
  EXPECT_EQ(r.data.sources[0].prompt_field, "q");
  EXPECT_DOUBLE_EQ(r.data.sources[0].weight, 0.5);
  EXPECT_EQ(r.data.synthetic.task, "copy");
  EXPECT_NE(dump_config(r).find("seq_len: 8"), std::string::npos);

  auto parse_error = [&](const std::string& name, const std::string& yaml) {
    const std::string path = write(name, yaml);
    return error_of([&] { parse_config<Root>(load_yaml(path), path); });
  };
  const std::string unknown = parse_error("u.yaml", "data:\n  sources:\n    - {path: x.txt, formt: text}\n");
  EXPECT_NE(unknown.find("u.yaml:3"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("data.sources[0].formt"), std::string::npos) << unknown;
  EXPECT_NE(parse_error("f.yaml", "data:\n  sources: [{path: x, format: csv}]\n").find("data.sources[0].format"),
            std::string::npos);
  EXPECT_NE(parse_error("p.yaml", "data:\n  sources: [{path: x, format: jsonl, prompt_field: q}]\n")
                .find("data.sources[0].response_field must be set together with prompt_field"),
            std::string::npos);
  // An empty corpus is the stage's error (TrainConfig: tests/trainer/config_test.cpp), not the section's.
  EXPECT_EQ(parse_error("e.yaml", "data:\n  seq_len: 4\n"), "<no error>");
  EXPECT_NE(parse_error("s.yaml", "data:\n  seq_len: 0\n  synthetic: {task: copy}\n").find("data.seq_len must be in"),
            std::string::npos);
}

// --- packing and loss mask --------------------------------------------------------------------------------

TEST_F(DataTest, PacksExactRowsWithDocumentBoundaryMask) {
  DataConfig c;
  c.sources.push_back({write("tiny.txt", "ab\n\ncde\n"), "text"});
  c.seq_len = 4;
  c.shuffle = false;
  DataLoader data(c, *tok_);
  EXPECT_EQ(data.eos_id(), kEos);
  EXPECT_EQ(data.pad_id(), kPad);
  // Stream: a b EOS c d e EOS (7 tokens): rows [0, 4] and [4, 8], the last padded; ceil(6 / 4) = 2 rows.
  ASSERT_EQ(data.rows_in_epoch(0), 2);
  const PackedBatch batch = data.next_batch(2);
  ASSERT_EQ(batch.rows, 2);
  EXPECT_EQ(batch.tokens, (std::vector<int32_t>{b('a'), b('b'), kEos, b('c'), b('d'),  //
                                                b('d'), b('e'), kEos, kPad, kPad}));
  // Targets of row 0: b EOS c d, c (a new document's first token) untrained; row 1: e EOS pad pad.
  EXPECT_EQ(batch.loss_mask, (std::vector<uint8_t>{1, 1, 0, 1, 1, 1, 0, 0}));
  EXPECT_EQ(batch.doc_ids, (std::vector<int32_t>{0, 0, 0, 1, 1, 1, 1, 1, -1, -1}));
  EXPECT_EQ(data.position(), (DataPosition{1, 0}));
  // A document longer than a row continues in the next: seq_len 2 -> rows [a b EOS] [EOS c d] [d e EOS].
  PackedBatch small = pack_all(data.documents(), {0, 1}, 2, false, kPad);
  ASSERT_EQ(small.rows, 3);
  EXPECT_EQ(small.tokens, (std::vector<int32_t>{b('a'), b('b'), kEos, kEos, b('c'), b('d'), b('d'), b('e'), kEos}));
  EXPECT_EQ(small.loss_mask, (std::vector<uint8_t>{1, 1, 0, 1, 1, 1}));
}

TEST_F(DataTest, SftMasksPromptTokens) {
  const Document doc = chat_document("What is 2 + 2?", "4");
  const TokenizedDoc t = tokenize_document(doc, *tok_, kEos);
  ASSERT_EQ(t.ids.back(), kEos);
  ASSERT_EQ(t.prompt_len, static_cast<int64_t>(tok_->encode(doc.prompt).size()));
  const int64_t n = static_cast<int64_t>(t.ids.size());
  for (bool sft : {true, false}) {
    const PackedBatch batch = pack_all({t}, {0}, n - 1, sft, kPad);  // one row holds the whole document
    ASSERT_EQ(batch.rows, 1);
    std::vector<int32_t> trained;
    for (int64_t i = 0; i < n - 1; ++i)
      if (batch.trained(0, i)) trained.push_back(batch.token(0, i + 1));
    if (sft) EXPECT_EQ(tok_->decode(trained), "4<｜end▁of▁sentence｜>");  // only the answer and its EOS
    else EXPECT_EQ(static_cast<int64_t>(trained.size()), n - 1);         // every target
  }
  // A plain document under sft: everything trained (no prompt).
  const TokenizedDoc plain = tokenize_document({"", "xyz"}, *tok_, kEos);
  EXPECT_EQ(pack_all({plain}, {0}, 3, true, kPad).trained_targets(), 3);
}

// --- order, sharding, resume ------------------------------------------------------------------------------

std::vector<PackedBatch> take(DataLoader& data, int n, int64_t rows, int rank = 0, int world = 1) {
  std::vector<PackedBatch> out;
  for (int i = 0; i < n; ++i) out.push_back(data.next_batch(rows, rank, world));
  return out;
}

TEST_F(DataTest, SameSeedSameRowsOtherSeedOtherOrder) {
  DataLoader a(synthetic_config("arithmetic", 40, 16, 1), *tok_), b(synthetic_config("arithmetic", 40, 16, 1), *tok_),
      c(synthetic_config("arithmetic", 40, 16, 2), *tok_);
  const auto ra = take(a, 5, 3), rb = take(b, 5, 3), rc = take(c, 5, 3);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ra[i].tokens, rb[i].tokens);
    EXPECT_EQ(ra[i].loss_mask, rb[i].loss_mask);
  }
  EXPECT_NE(ra[0].tokens, rc[0].tokens);
  EXPECT_NE(a.epoch_order(0), c.epoch_order(0));
  EXPECT_NE(a.epoch_order(0), a.epoch_order(1));  // reshuffled every epoch
  std::vector<int32_t> sorted = a.epoch_order(0);
  std::sort(sorted.begin(), sorted.end());
  for (int32_t i = 0; i < 40; ++i) EXPECT_EQ(sorted[i], i);  // a permutation: each document once
}

TEST_F(DataTest, TwoRanksOfBRowsEqualOneRankOf2BRows) {
  const DataConfig c = synthetic_config("reverse", 12, 8, 5);
  DataLoader one(c, *tok_), r0(c, *tok_), r1(c, *tok_);
  const int64_t b = 3, steps = 4 * one.rows_in_epoch(0) / (2 * b) + 2;  // enough to cross epochs
  for (int64_t s = 0; s < steps; ++s) {
    const PackedBatch all = one.next_batch(2 * b), p0 = r0.next_batch(b, 0, 2), p1 = r1.next_batch(b, 1, 2);
    ASSERT_EQ(p0.rows, b);
    std::vector<int32_t> tokens = p0.tokens;
    tokens.insert(tokens.end(), p1.tokens.begin(), p1.tokens.end());
    std::vector<uint8_t> mask = p0.loss_mask;
    mask.insert(mask.end(), p1.loss_mask.begin(), p1.loss_mask.end());
    EXPECT_EQ(tokens, all.tokens) << "step " << s;
    EXPECT_EQ(mask, all.loss_mask) << "step " << s;
    EXPECT_EQ(r0.position(), one.position());
    EXPECT_EQ(r1.position(), one.position());
  }
  EXPECT_GE(one.position().epoch, 3);
}

TEST_F(DataTest, ResumeGivesTheSameRemainingRows) {
  const DataConfig c = synthetic_config("copy", 10, 8, 9);
  DataLoader run(c, *tok_);
  const int per_epoch = static_cast<int>(run.rows_in_epoch(0) / 3);  // batches of 3 rows in epoch 0
  ASSERT_GE(per_epoch, 3);
  take(run, per_epoch - 1, 3);  // save late in epoch 0; the rows after it run into epochs 1 and 2
  const std::string saved = run.position().to_json();
  const auto expected = take(run, per_epoch + 3, 3);

  DataLoader resumed(c, *tok_);
  resumed.seek(DataPosition::from_json(saved, "ckpt/data.json"));
  const auto got = take(resumed, per_epoch + 3, 3);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].tokens, expected[i].tokens) << i;
    EXPECT_EQ(got[i].loss_mask, expected[i].loss_mask) << i;
  }
  EXPECT_EQ(resumed.position(), run.position());
  EXPECT_GE(run.position().epoch, 1);
}

TEST_F(DataTest, PositionJsonAndErrors) {
  const DataPosition p{3, 120};
  EXPECT_EQ(DataPosition::from_json(p.to_json()), p);
  EXPECT_NE(error_of([] { DataPosition::from_json("{\"epoch\": 1}", "ckpt/data.json"); })
                .find("ckpt/data.json: field \"next_row\" must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { DataPosition::from_json("nope"); }).find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of([] { DataPosition::from_json("{\"epoch\": -1, \"next_row\": 0}"); }).find("must be >= 0"),
            std::string::npos);
  DataLoader data(synthetic_config("copy", 4, 8, 0), *tok_);
  EXPECT_NE(error_of([&] { data.seek({0, 1000000}); }).find("epoch 0 has only"), std::string::npos);
}

TEST_F(DataTest, WeightsRepeatOrSubsampleASource) {
  DataConfig c;
  c.sources.push_back({write("four.txt", "a\n\nb\n\nc\n\nd\n"), "text"});
  c.sources[0].weight = 0.5;
  c.sources.push_back({write("two.txt", "x\n\ny\n"), "text"});
  c.sources[1].weight = 2;
  c.shuffle = false;
  c.seq_len = 4;
  DataLoader data(c, *tok_);
  const auto order = data.epoch_order(0);
  ASSERT_EQ(order.size(), 2u + 4u);
  EXPECT_LT(order[0], order[1]);  // the subset of the first source, in file order
  EXPECT_LT(order[1], 4);
  EXPECT_EQ(std::vector<int32_t>(order.begin() + 2, order.end()), (std::vector<int32_t>{4, 5, 4, 5}));
}

// --- synthetic --------------------------------------------------------------------------------------------

TEST_F(DataTest, SyntheticAnswersCheckOut) {
  for (const std::string& task : synthetic_tasks()) {
    SyntheticConfig c;
    c.task = task;
    c.count = 50;
    c.seed = 7;
    const auto examples = make_synthetic(c);
    ASSERT_EQ(examples.size(), 50u);
    for (const SyntheticExample& e : examples) {
      EXPECT_TRUE(check_answer(task, e.question, e.answer)) << e.question;
      EXPECT_TRUE(check_answer(task, e.question, " " + e.answer + "<｜end▁of▁sentence｜>\n")) << e.question;
      EXPECT_FALSE(check_answer(task, e.question, e.answer + "0")) << e.question;
    }
    c.seed = 8;
    EXPECT_NE(make_synthetic(c)[0].question + make_synthetic(c)[1].question,
              examples[0].question + examples[1].question);
    const Document doc = synthetic_documents(c)[0];
    EXPECT_EQ(doc.response, make_synthetic(c)[0].answer + "<｜end▁of▁sentence｜>");
  }
  EXPECT_EQ(expected_answer("arithmetic", "What is 37 + 58?"), "95");
  EXPECT_EQ(expected_answer("arithmetic", "What is 3 - 8?"), "-5");
  EXPECT_EQ(expected_answer("arithmetic", "What is 12 * 11?"), "132");
  EXPECT_EQ(expected_answer("reverse", "Reverse this string: abc"), "cba");
  EXPECT_EQ(expected_answer("copy", "Copy this string exactly: abc"), "abc");
  EXPECT_FALSE(expected_answer("arithmetic", "What is 3 + x?").has_value());
  EXPECT_FALSE(check_answer("copy", "hello", "hello"));
}

// A code task's repository (files_field) comes with its prompt; a bad one is refused naming file:line.
TEST_F(DataTest, GrpoTaskFilesComeWithThePrompt) {
  const std::string path = (dir_ / "code.jsonl").string();
  auto mixture = [&](const std::string& line) {
    std::ofstream(path) << R"({"prompt": "fix it", "answer": "tests"})" << "\n" << line << "\n";
    GrpoConfig g;
    g.tasks[0].synthetic.task = "";
    g.tasks[0].path = path;
    g.eval_prompts = 0;
    return PromptMixture(g);
  };
  std::vector<GrpoPrompt> drawn =
      mixture(R"({"prompt": "fix", "files": {"solution.py": "x = 1\n", "pkg/a0.py": ""}})").next(2);
  std::sort(drawn.begin(), drawn.end(), [](auto& a, auto& b) { return a.user < b.user; });
  EXPECT_EQ(drawn[0].files, (std::map<std::string, std::string>{{"solution.py", "x = 1\n"}, {"pkg/a0.py", ""}}));
  EXPECT_TRUE(drawn[1].files.empty()) << "no files field";
  using testing::error_of;
  EXPECT_NE(error_of([&] { mixture(R"({"prompt": "p", "files": ["solution.py"]})"); }).find(
                path + ":2: field \"files\" must be an object of path -> content"), std::string::npos);
  EXPECT_NE(error_of([&] { mixture(R"({"prompt": "p", "files": {"../up.py": "x"}})"); }).find(
                "'../up.py' is not a relative path inside the repository"), std::string::npos);
  EXPECT_NE(error_of([&] { mixture(R"({"prompt": "p", "files": {"a.py": 3}})"); }).find(
                "files['a.py'] must be a string"), std::string::npos);
}

}  // namespace
}  // namespace dsrl
