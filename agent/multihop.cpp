#include "agent/multihop.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <random>
#include <set>

#include "common/error.h"
#include "common/jsonl.h"

namespace dsrl {
namespace {

// A capitalised name of 2-3 syllables, not yet in `used`.
std::string fresh_name(std::mt19937_64& rng, std::set<std::string>& used) {
  static const char* const onsets[] = {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                                       "br", "dr", "kr", "st", "th", "sh"};
  static const char* const vowels[] = {"a", "e", "i", "o", "u", "ae", "ei", "ou"};
  static const char* const codas[] = {"", "", "n", "r", "l", "s", "th", "x"};
  for (;;) {
    std::string name;
    const int syllables = 2 + static_cast<int>(rng() % 2);
    for (int s = 0; s < syllables; ++s) name += std::string(onsets[rng() % 20]) + vowels[rng() % 8];
    name += codas[rng() % 8];
    name[0] = static_cast<char>(name[0] - 'a' + 'A');
    if (used.insert(name).second) return name;
  }
}

}  // namespace

MultihopWorld make_multihop(const MultihopConfig& c) {
  DSRL_CHECK(c.people >= 1 && c.people <= 100000, "multihop: people must be in [1, 100000], got {}", c.people);
  DSRL_CHECK(c.towns >= 2 && c.towns <= 100000, "multihop: towns must be in [2, 100000], got {}", c.towns);
  DSRL_CHECK(c.provinces >= 2 && c.provinces <= 10000, "multihop: provinces must be in [2, 10000], got {}",
             c.provinces);
  std::mt19937_64 rng(c.seed * 0x9E3779B97F4A7C15ULL + 7);
  std::set<std::string> used;
  static const char* const trades[] = {"a glassmaker", "a ferry pilot", "an archivist", "a beekeeper",
                                       "a cartographer", "a weaver", "a clockmaker", "a herbalist"};
  static const char* const features[] = {"a river port", "a hill town", "a market town", "a mining town",
                                         "a fishing village", "a walled town"};
  MultihopWorld w;
  std::vector<std::string> provinces, towns, town_province, surnames;
  for (int64_t p = 0; p < c.provinces; ++p) {
    provinces.push_back(fresh_name(rng, used));
    w.corpus.push_back({fmt::format("province-{}", p), provinces.back(),
                        fmt::format("{} is a province. Its towns keep their own records.", provinces.back())});
  }
  for (int64_t t = 0; t < c.towns; ++t) {
    towns.push_back(fresh_name(rng, used));
    town_province.push_back(provinces[static_cast<size_t>(t % c.provinces)]);  // every province has towns
    w.corpus.push_back({fmt::format("town-{}", t), towns.back(),
                        fmt::format("{} is {} in the province of {}.", towns.back(), features[rng() % 6],
                                    town_province.back())});
  }
  for (int64_t s = 0; s < std::max<int64_t>(1, c.people / 3); ++s) surnames.push_back(fresh_name(rng, used));
  std::set<std::string> people;
  for (int64_t i = 0; i < c.people; ++i) {
    std::string person;
    do person = fresh_name(rng, used) + " " + surnames[rng() % surnames.size()];
    while (!people.insert(person).second);
    const size_t town = rng() % towns.size();
    w.corpus.push_back({fmt::format("person-{}", i), person,
                        fmt::format("{} is {}. {} was born in {}.", person, trades[rng() % 8], person, towns[town])});
    w.questions.push_back({fmt::format("In which province was {} born? Search the encyclopedia, then end your reply "
                                       "with a line 'Answer: <province>'.", person),
                           town_province[town], person, towns[town]});
  }
  return w;
}

std::vector<CorpusDocument> read_corpus(const std::string& path) {
  std::vector<CorpusDocument> docs;
  read_jsonl_objects(path, [&](const nlohmann::json& o, const std::string& where) {
    auto field = [&](const char* name) {
      auto it = o.find(name);
      DSRL_CHECK(it != o.end() && it->is_string(), "{}: corpus documents need a string field \"{}\"", where, name);
      return it->get<std::string>();
    };
    docs.push_back({field("id"), field("title"), field("text")});
  });
  DSRL_CHECK(!docs.empty(), "corpus file '{}' holds no documents", path);
  return docs;
}

}  // namespace dsrl
