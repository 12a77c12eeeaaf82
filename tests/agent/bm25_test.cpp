// BM25 search and the search/open tools on a small corpus: scores equal the formula computed by hand, ranking,
// and every bad argument answered with an error result.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "agent/bm25.h"
#include "common/error.h"

namespace dsrl {
namespace {

std::vector<CorpusDocument> corpus() {
  return {{"paris", "Paris", "Paris is the capital of France. The Seine flows through Paris."},
          {"lyon", "Lyon", "Lyon is a city in France on the Rhone."},
          {"tokyo", "Tokyo", "Tokyo is the capital of Japan."},
          {"kyoto", "京都", "京都は日本の古都。Kyoto was the capital of Japan for a thousand years and more."}};
}

TEST(Bm25, TermsAreLowerCasedAsciiRunsWithUtf8Kept) {
  EXPECT_EQ(bm25_terms("Hello, World-2024!"), (std::vector<std::string>{"hello", "world", "2024"}));
  EXPECT_EQ(bm25_terms("京都 Kyoto"), (std::vector<std::string>{"京都", "kyoto"}));
}

TEST(Bm25, ScoreIsTheFormulaAndRareTermsRankFirst) {
  Bm25Index index(corpus());
  // "lyon": in one document of four, twice (title + text), document length 10 terms.
  std::vector<int64_t> lengths;
  for (const auto& d : corpus()) lengths.push_back(static_cast<int64_t>(bm25_terms(d.title + "\n" + d.text).size()));
  double avg = 0;
  for (int64_t l : lengths) avg += static_cast<double>(l) / lengths.size();
  const double idf = std::log(1 + (4 - 1 + 0.5) / (1 + 0.5));
  const double expected = idf * 2 * 2.2 / (2 + 1.2 * (1 - 0.75 + 0.75 * lengths[1] / avg));
  auto hits = index.search("Lyon", 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].doc, 1);
  EXPECT_NEAR(hits[0].score, expected, 1e-12);

  hits = index.search("capital of Japan", 5);
  ASSERT_GE(hits.size(), 3u);
  EXPECT_EQ(index.documents()[hits[0].doc].id, "tokyo") << "short document with both rare terms";
  EXPECT_EQ(index.documents()[hits[1].doc].id, "kyoto");
  EXPECT_EQ(index.search("capital of Japan", 1).size(), 1u);
  EXPECT_TRUE(index.search("volcano", 5).empty());
  EXPECT_EQ(index.search("京都", 5).at(0).doc, 3);
}

TEST(Bm25, RefusesEmptyAndRepeatedIds) {
  EXPECT_THROW(Bm25Index({{"", "t", "x"}}), Error);
  EXPECT_THROW(Bm25Index({{"a", "t", "x"}, {"a", "u", "y"}}), Error);
}

TEST(Bm25, SearchAndOpenToolsAnswerTheModel) {
  Bm25Index index(corpus());
  ToolRegistry tools;
  tools.add(std::make_unique<SearchTool>(index, 3, 20));
  tools.add(std::make_unique<OpenTool>(index, 40));
  ToolResult found = tools.call("search", R"({"query": "capital of France", "top_k": 2})");
  ASSERT_TRUE(found.ok);
  EXPECT_EQ(found.text.rfind("1. [paris] Paris\nParis is the capital...", 0), 0u) << found.text;
  EXPECT_NE(found.text.find("\n\n2. ["), std::string::npos);
  EXPECT_EQ(found.text.find("3. ["), std::string::npos);
  EXPECT_TRUE(tools.call("search", R"({"query": "volcano"})").ok);
  EXPECT_FALSE(tools.call("search", R"({"query": "x", "top_k": 4})").ok) << "above max_results";
  EXPECT_FALSE(tools.call("search", R"({"query": "x", "top_k": "2"})").ok);
  EXPECT_FALSE(tools.call("search", R"({"q": "x"})").ok);

  ToolResult opened = tools.call("open", R"({"id": "lyon"})");
  ASSERT_TRUE(opened.ok);
  EXPECT_EQ(opened.text, "[lyon] Lyon\nLyon is a city in France on the Rhone.");
  ToolResult long_one = tools.call("open", R"({"id": "paris"})");
  EXPECT_NE(long_one.text.find("...\n[cut at 40 of 62 bytes]"), std::string::npos) << long_one.text;
  OpenTool short_open(index, 10);  // 10 bytes end inside the fourth 3-byte character: the cut backs off to 9
  EXPECT_EQ(short_open.call(R"({"id": "kyoto"})").text.rfind("[kyoto] 京都\n京都は...\n[cut at 10 of", 0), 0u);
  const nlohmann::json schema = nlohmann::json::parse(tools.schemas()[0]);
  EXPECT_EQ(schema["parameters"]["required"], nlohmann::json::array({"query"})) << "top_k is optional";
  EXPECT_EQ(schema["parameters"]["properties"]["top_k"]["type"], "integer");
  ToolResult missing = tools.call("open", R"({"id": "rome"})");
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.text.find("no document with id 'rome'"), std::string::npos);
}

}  // namespace
}  // namespace dsrl
