#include "agent/bm25.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/error.h"
#include "common/utf8.h"

namespace dsrl {
namespace {

bool term_byte(unsigned char c) { return std::isalnum(c) || c >= 0x80; }

// At most `chars` bytes of text, ending before a UTF-8 character rather than inside one, with "..." when cut.
std::string cut(const std::string& text, int64_t chars) {
  if (static_cast<int64_t>(text.size()) <= chars) return text;
  return std::string(utf8_prefix(text, static_cast<size_t>(std::max<int64_t>(0, chars)))) + "...";
}

}  // namespace

std::vector<std::string> bm25_terms(const std::string& text) {
  std::vector<std::string> terms;
  std::string term;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (term_byte(c)) {
      term.push_back(c < 0x80 ? static_cast<char>(std::tolower(c)) : ch);
    } else if (!term.empty()) {
      terms.push_back(std::move(term));
      term.clear();
    }
  }
  if (!term.empty()) terms.push_back(std::move(term));
  return terms;
}

Bm25Index::Bm25Index(std::vector<CorpusDocument> documents, Bm25Options options)
    : docs_(std::move(documents)), options_(options) {
  int64_t total = 0;
  for (size_t d = 0; d < docs_.size(); ++d) {
    const CorpusDocument& doc = docs_[d];
    DSRL_CHECK(!doc.id.empty(), "corpus document {} has an empty id", d);
    DSRL_CHECK(by_id_.emplace(doc.id, static_cast<int64_t>(d)).second, "corpus document id '{}' appears twice",
               doc.id);
    std::unordered_map<std::string, int64_t> counts;
    const std::vector<std::string> terms = bm25_terms(doc.title + "\n" + doc.text);
    for (const auto& t : terms) ++counts[t];
    for (const auto& [t, n] : counts) postings_[t].emplace_back(static_cast<int64_t>(d), n);
    lengths_.push_back(static_cast<int64_t>(terms.size()));
    total += static_cast<int64_t>(terms.size());
  }
  average_length_ = docs_.empty() ? 0 : static_cast<double>(total) / docs_.size();
}

std::vector<Bm25Index::Hit> Bm25Index::search(const std::string& query, int64_t k) const {
  std::vector<std::string> terms = bm25_terms(query);
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());  // a repeated query word counts once
  const double N = static_cast<double>(docs_.size());
  std::unordered_map<int64_t, double> scores;
  for (const auto& t : terms) {
    auto it = postings_.find(t);
    if (it == postings_.end()) continue;
    const double n = static_cast<double>(it->second.size());
    const double idf = std::log(1 + (N - n + 0.5) / (n + 0.5));
    for (const auto& [d, f] : it->second) {
      const double norm = options_.k1 * (1 - options_.b + options_.b * lengths_[d] / std::max(1e-9, average_length_));
      scores[d] += idf * f * (options_.k1 + 1) / (f + norm);
    }
  }
  std::vector<Hit> hits;
  for (const auto& [d, s] : scores)
    if (s > 0) hits.push_back({d, s});
  std::sort(hits.begin(), hits.end(),
            [](const Hit& a, const Hit& b) { return a.score != b.score ? a.score > b.score : a.doc < b.doc; });
  if (static_cast<int64_t>(hits.size()) > k) hits.resize(static_cast<size_t>(std::max<int64_t>(0, k)));
  return hits;
}

int64_t Bm25Index::find(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? -1 : it->second;
}

std::string SearchTool::schema_json() const {
  return tool_schema("search", "Searches the document collection; returns the best matches with their ids.",
                     {{"query", "string", "keywords"},
                      {"top_k", "integer", fmt::format("results, 1 to {}", max_results_), false}});
}

ToolResult SearchTool::call(const std::string& arguments_json) {
  const nlohmann::json args = nlohmann::json::parse(arguments_json);
  if (!args.contains("query") || !args["query"].is_string())
    return {"error: search needs a string argument \"query\"", false};
  int64_t k = max_results_;
  if (args.contains("top_k")) {
    if (!args["top_k"].is_number_integer() || args["top_k"].get<int64_t>() < 1 ||
        args["top_k"].get<int64_t>() > max_results_)
      return {fmt::format("error: top_k must be an integer from 1 to {}, got {}", max_results_, args["top_k"].dump()),
              false};
    k = args["top_k"].get<int64_t>();
  }
  const std::string query = args["query"].get<std::string>();
  const std::vector<Bm25Index::Hit> hits = index_.search(query, k);
  if (hits.empty()) return {fmt::format("no document matches '{}'", query), true};
  std::string out;
  for (size_t i = 0; i < hits.size(); ++i) {
    const CorpusDocument& doc = index_.documents()[hits[i].doc];
    out += fmt::format("{}{}. [{}] {}\n{}", i ? "\n\n" : "", i + 1, doc.id, doc.title, cut(doc.text, snippet_chars_));
  }
  return {out, true};
}

std::string OpenTool::schema_json() const {
  return tool_schema("open", "Opens a document by the id that search returned.", {{"id", "string", "a document id"}});
}

ToolResult OpenTool::call(const std::string& arguments_json) {
  const nlohmann::json args = nlohmann::json::parse(arguments_json);
  if (!args.contains("id") || !args["id"].is_string()) return {"error: open needs a string argument \"id\"", false};
  const std::string id = args["id"].get<std::string>();
  const int64_t d = index_.find(id);
  if (d < 0) return {fmt::format("error: no document with id '{}' (use an id that search returned)", id), false};
  const CorpusDocument& doc = index_.documents()[d];
  std::string text = cut(doc.text, max_chars_);
  if (text.size() != doc.text.size())
    text += fmt::format("\n[cut at {} of {} bytes]", max_chars_, doc.text.size());
  return {fmt::format("[{}] {}\n{}", doc.id, doc.title, text), true};
}

}  // namespace dsrl
