#include "trainer/data_loader.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "trainer/data_rng.h"
#include "trainer/data_source.h"
#include "trainer/data_synthetic.h"

namespace dsrl {

// --- DataPosition -----------------------------------------------------------------------------------------

std::string DataPosition::to_json() const {
  return nlohmann::json{{"epoch", epoch}, {"next_row", next_row}}.dump();
}

DataPosition DataPosition::from_json(const std::string& text, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  DSRL_CHECK(j.is_object(), "{}: expected a JSON object {{\"epoch\": E, \"next_row\": R}}, got '{}'", where, text);
  DataPosition p;
  for (auto [key, out] : {std::pair<const char*, int64_t*>{"epoch", &p.epoch}, {"next_row", &p.next_row}}) {
    DSRL_CHECK(j.contains(key) && j[key].is_number_integer(), "{}: field \"{}\" must be an integer, got '{}'",
               where, key, text);
    *out = j[key].get<int64_t>();
    DSRL_CHECK(*out >= 0, "{}: field \"{}\" must be >= 0, got {}", where, key, *out);
  }
  return p;
}

// --- DataLoader -------------------------------------------------------------------------------------------

DataLoader::DataLoader(const DataConfig& config, const Tokenizer& tokenizer) : config_(config) {
  const std::optional<int32_t> eos = tokenizer.token_id(config.eos_token);
  DSRL_CHECK(eos.has_value(), "data.eos_token '{}' is not a token of the tokenizer (set data.eos_token)",
             config.eos_token);
  eos_id_ = *eos;
  pad_id_ = tokenizer.token_id(config.pad_token).value_or(eos_id_);
  for (size_t i = 0; i < config.sources.size(); ++i) {
    const DataSourceConfig& s = config.sources[i];
    add_source(fmt::format("data.sources[{}] ({})", i, s.path), read_documents(s), s.weight, tokenizer);
  }
  if (!config.synthetic.task.empty())
    add_source("data.synthetic (" + config.synthetic.task + ")", synthetic_documents(config.synthetic), 1.0,
               tokenizer);
  DSRL_CHECK(!sources_.empty(), "data: no sources and no synthetic task (set data.sources or data.synthetic.task)");
  DSRL_CHECK(rows_in_epoch(0) >= 1, "data: the corpus packs into no row (it has {} tokens; need at least 2)",
             stream(0).length());
}

void DataLoader::add_source(const std::string& name, const std::vector<Document>& docs, double weight,
                            const Tokenizer& tokenizer) {
  DSRL_CHECK(!docs.empty(), "{} has no documents", name);
  DSRL_CHECK(docs_.size() + docs.size() < static_cast<size_t>(INT32_MAX), "{}: too many documents", name);
  Source source{name, static_cast<int32_t>(docs_.size()), 0, weight};
  for (const Document& doc : docs) docs_.push_back(tokenize_document(doc, tokenizer, eos_id_));
  source.end = static_cast<int32_t>(docs_.size());
  sources_.push_back(source);
}

std::vector<int32_t> DataLoader::epoch_order(int64_t epoch) const {
  const uint64_t base = DataRng(config_.seed, static_cast<uint64_t>(epoch)).next();
  std::vector<int32_t> order;
  for (size_t s = 0; s < sources_.size(); ++s) {
    const Source& src = sources_[s];
    const int64_t n = src.end - src.begin;
    const int64_t count = std::llround(src.weight * static_cast<double>(n));
    for (int64_t copy = 0; copy < count / n; ++copy)
      for (int32_t i = src.begin; i < src.end; ++i) order.push_back(i);
    if (count % n == 0) continue;
    // The fraction: a seeded subset of this epoch, in file order.
    std::vector<int32_t> pick(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pick[i] = src.begin + static_cast<int32_t>(i);
    DataRng(base, 1 + s).shuffle(pick);
    pick.resize(static_cast<size_t>(count % n));
    std::sort(pick.begin(), pick.end());
    order.insert(order.end(), pick.begin(), pick.end());
  }
  if (config_.shuffle) DataRng(base, 0).shuffle(order);
  return order;
}

const PackedStream& DataLoader::stream(int64_t epoch) {
  auto it = streams_.find(epoch);
  if (it == streams_.end()) {
    it = streams_.emplace(epoch, std::make_unique<PackedStream>(docs_, epoch_order(epoch), config_.seq_len,
                                                                config_.sft, pad_id_)).first;
    DSRL_CHECK(it->second->rows() >= 1, "data: epoch {} packs into no row ({} tokens; need at least 2: raise "
               "data.sources[].weight)", epoch, it->second->length());
  }
  // Keep the latest two epochs (a batch spans at most a few epochs; older ones are not asked for again).
  while (streams_.size() > 2 && streams_.begin()->first != epoch) streams_.erase(streams_.begin());
  return *it->second;
}

int64_t DataLoader::rows_in_epoch(int64_t epoch) { return stream(epoch).rows(); }

PackedBatch DataLoader::next_batch(int64_t rows_per_rank, int rank, int world) {
  DSRL_CHECK(rows_per_rank >= 1, "rows per rank must be >= 1, got {}", rows_per_rank);
  DSRL_CHECK(world >= 1 && rank >= 0 && rank < world, "rank must be in [0, world={}), got {}", world, rank);
  PackedBatch batch(config_.seq_len);
  const int64_t global = rows_per_rank * world, mine = rows_per_rank * rank;
  for (int64_t i = 0; i < global; ++i) {
    if (i >= mine && i < mine + rows_per_rank) stream(position_.epoch).append_row(position_.next_row, batch);
    if (++position_.next_row == rows_in_epoch(position_.epoch)) {
      ++position_.epoch;
      position_.next_row = 0;
    }
  }
  return batch;
}

void DataLoader::seek(const DataPosition& position) {
  DSRL_CHECK(position.epoch >= 0 && position.next_row >= 0, "data position must be >= 0, got {}",
             position.to_json());
  const int64_t rows = rows_in_epoch(position.epoch);
  DSRL_CHECK(position.next_row < rows,
             "data position {}: epoch {} has only {} rows (was it saved with another data config or corpus?)",
             position.to_json(), position.epoch, rows);
  position_ = position;
}

std::string DataLoader::summary() {
  int64_t tokens = 0;
  for (const TokenizedDoc& d : docs_) tokens += static_cast<int64_t>(d.ids.size());
  std::string names;
  for (const Source& s : sources_) names += (names.empty() ? "" : ", ") + s.name;
  return fmt::format("data: {} documents, {} tokens from {}; epoch 0: {} rows of {}+1 tokens, sft {}",
                     docs_.size(), tokens, names, rows_in_epoch(0), config_.seq_len, config_.sft);
}

}  // namespace dsrl
