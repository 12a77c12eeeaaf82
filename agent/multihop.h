// A generated world for multi-hop search tasks (torch-free): people, the towns they were born in, and the
// provinces the towns lie in, written as a small encyclopedia. Answering "In which province was X born?" takes two
// lookups: X's page names the town, the town's page names the province. Names are made of syllables, so the
// answers are in no model's weights; several towns share a province and people share surnames, so a search must be
// read, not guessed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/bm25.h"

namespace dsrl {

struct MultihopConfig {
  int64_t people = 200;    // questions (one per person), in [1, 100000]
  int64_t towns = 40;      // towns (each person is born in one), in [2, 100000]
  int64_t provinces = 8;   // provinces (each town lies in one), in [2, 10000]
  uint64_t seed = 1;
};

struct MultihopQuestion {
  std::string question;    // "In which province was Mara Velt born? ..."
  std::string answer;      // the province
  std::string person, town;  // the two hops (provenance)
};

struct MultihopWorld {
  std::vector<CorpusDocument> corpus;     // one page per person, town and province
  std::vector<MultihopQuestion> questions;
};

// The same world for the same config. Throws dsrl::Error on a value out of range.
MultihopWorld make_multihop(const MultihopConfig& config);

// Reads a corpus JSONL file: one object per line with string fields id, title and text. Throws dsrl::Error naming
// file and line on a missing or non-string field (a repeated id is refused when the index is built).
std::vector<CorpusDocument> read_corpus(const std::string& path);

}  // namespace dsrl
