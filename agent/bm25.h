// Okapi BM25 over an in-memory corpus, and the `search` and `open` tools a search agent uses on it.
//   score(q, d) = sum over query terms t of  idf(t) * f(t, d) * (k1 + 1) / (f(t, d) + k1 * (1 - b + b * |d| / avgdl))
//   idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
// Terms are runs of ASCII letters and digits, lower-cased; bytes of other UTF-8 characters stay inside a term.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/tools.h"

namespace dsrl {

struct CorpusDocument {
  std::string id;     // what `open` takes
  std::string title;
  std::string text;
};

struct Bm25Options {
  double k1 = 1.2;    // term-frequency saturation
  double b = 0.75;    // length normalisation
};

// The terms of `text` (see above).
std::vector<std::string> bm25_terms(const std::string& text);

class Bm25Index {
 public:
  struct Hit {
    int64_t doc;      // index into documents()
    double score;
  };
  // Throws dsrl::Error on an empty or repeated document id.
  explicit Bm25Index(std::vector<CorpusDocument> documents, Bm25Options options = {});
  // The k best documents with a score > 0, best first (ties: lower index first).
  std::vector<Hit> search(const std::string& query, int64_t k) const;
  const std::vector<CorpusDocument>& documents() const { return docs_; }
  // The index of the document with `id`, or -1.
  int64_t find(const std::string& id) const;

 private:
  std::vector<CorpusDocument> docs_;
  Bm25Options options_;
  std::vector<int64_t> lengths_;                       // terms per document (title + text)
  double average_length_ = 0;
  // term -> (document, term frequency) postings, documents ascending
  std::unordered_map<std::string, std::vector<std::pair<int64_t, int64_t>>> postings_;
  std::unordered_map<std::string, int64_t> by_id_;
};

// `search` {"query": string, "top_k": integer (optional, 1..max_results)}: numbered hits with id, title and the
// start of the text. The index must outlive the tool.
class SearchTool : public Tool {
 public:
  SearchTool(const Bm25Index& index, int64_t max_results = 10, int64_t snippet_chars = 200)
      : index_(index), max_results_(max_results), snippet_chars_(snippet_chars) {}
  std::string name() const override { return "search"; }
  std::string schema_json() const override;
  ToolResult call(const std::string& arguments_json) override;

 private:
  const Bm25Index& index_;
  int64_t max_results_, snippet_chars_;
};

// `open` {"id": string}: the document's title and text, cut at max_chars bytes (the cut is said).
class OpenTool : public Tool {
 public:
  explicit OpenTool(const Bm25Index& index, int64_t max_chars = 4000) : index_(index), max_chars_(max_chars) {}
  std::string name() const override { return "open"; }
  std::string schema_json() const override;
  ToolResult call(const std::string& arguments_json) override;

 private:
  const Bm25Index& index_;
  int64_t max_chars_;
};

}  // namespace dsrl
