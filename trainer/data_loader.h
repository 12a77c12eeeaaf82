// The data pipeline of the training stages (torch-free, library dsrl_trainer_data): the sources of a DataConfig
// read and tokenized once, a seeded document order per epoch, packed rows (data_packing.h), sharding across
// data-parallel ranks and a resumable position.
//   DataLoader data(config.data, *tokenizer);
//   data.seek(saved);                                   // resuming: DataPosition::from_json(...)
//   PackedBatch batch = data.next_batch(b, rank, world); // b rows of the next global batch of b * world rows
//   save(data.position().to_json());
//
// Epoch e: every source contributes round(weight * its documents) documents (whole copies, then a seeded
// subset for the fraction, drawn anew each epoch), the synthetic corpus all of its examples; with shuffle on
// they are put in a seeded random order (seed, e), else sources in config order, documents in file order.
// The epochs' rows, one after the other, form one global row sequence; global batch g of B = b * world rows is
// its rows [g*B, (g+1)*B) (a batch may span two epochs) and rank r takes rows r*b .. r*b + b - 1 of it, so
// n ranks x b rows see exactly the rows 1 rank x n*b rows sees, in the same order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "trainer/data_config.h"
#include "trainer/data_packing.h"

namespace dsrl {

// Where the next global batch starts. The same on every rank; saved with checkpoints.
struct DataPosition {
  int64_t epoch = 0;     // epoch of the next row
  int64_t next_row = 0;  // its row within that epoch
  // {"epoch": 3, "next_row": 120}
  std::string to_json() const;
  // Throws dsrl::Error naming the problem (not JSON, a missing or negative field) and `where` it came from.
  static DataPosition from_json(const std::string& text, const std::string& where = "data position");
  bool operator==(const DataPosition& o) const { return epoch == o.epoch && next_row == o.next_row; }
};

class DataLoader {
 public:
  // Reads and tokenizes every source now. Throws dsrl::Error on an unreadable source or bad document, an EOS
  // token the tokenizer does not know, or a corpus too small for one row.
  DataLoader(const DataConfig& config, const Tokenizer& tokenizer);

  // This rank's rows of the next global batch (rows_per_rank * world rows); advances the position past the whole
  // global batch. Requires rows_per_rank >= 1 and 0 <= rank < world.
  PackedBatch next_batch(int64_t rows_per_rank, int rank = 0, int world = 1);
  const DataPosition& position() const { return position_; }
  // Continue from `position` (a position() saved earlier with the same config and data). Throws if its row is
  // beyond its epoch.
  void seek(const DataPosition& position);

  int64_t rows_in_epoch(int64_t epoch);                  // packed rows of that epoch
  std::vector<int32_t> epoch_order(int64_t epoch) const;  // corpus indices of the epoch's documents, in order
  const std::vector<TokenizedDoc>& documents() const { return docs_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  // One line for the log: documents, tokens, sources, rows of epoch 0.
  std::string summary();

 private:
  struct Source {
    std::string name;  // path, or "synthetic:<task>"
    int32_t begin = 0, end = 0;  // its documents in docs_
    double weight = 1.0;
  };
  void add_source(const std::string& name, const std::vector<Document>& docs, double weight,
                  const Tokenizer& tokenizer);
  const PackedStream& stream(int64_t epoch);  // built on first use; keeps the latest two

  DataConfig config_;
  int32_t eos_id_ = 0, pad_id_ = 0;
  std::vector<TokenizedDoc> docs_;
  std::vector<Source> sources_;
  std::map<int64_t, std::unique_ptr<PackedStream>> streams_;
  DataPosition position_;
};

}  // namespace dsrl
