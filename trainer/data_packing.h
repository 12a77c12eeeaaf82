// Packing documents into fixed-length rows with a loss mask (torch-free, library dsrl_trainer_data).
//
// One epoch is a token stream: the epoch's documents back to back, each ending with EOS. Row r holds the stream
// positions [r*S, r*S + S] (S = seq_len, so S + 1 tokens): inputs are tokens[0..S), targets tokens[1..S]; the
// next row starts at the last token of this one, so every stream token but the first is a target exactly once
// (llm.c's layout). A document longer than a row simply continues in the next row. The last row of an epoch is
// filled up with the pad token; rows per epoch = ceil((stream length - 1) / S).
//
// Loss mask, per target (mask[t] is about tokens[t+1]): 1 (trained) unless the target is
//   - padding,
//   - the first token of a document: its context is the previous, unrelated document, so predicting it is noise
//     (this is how document boundaries are respected: a document's own EOS IS trained, the jump to the next
//     document is not; attention still sees the previous document, as in GPT-style packing; doc_ids allow a
//     block-diagonal attention mask later),
//   - with sft on, a prompt token (a Document's prompt part; for chat documents everything up to and including
//     "<｜Assistant｜></think>"), so only the response and its EOS are trained.
#pragma once

#include <cstdint>
#include <vector>

#include "model/tokenizer.h"
#include "trainer/data_source.h"

namespace dsrl {

// A document's token ids (ending with EOS) and how many of the first ones are its prompt.
struct TokenizedDoc {
  std::vector<int32_t> ids;
  int64_t prompt_len = 0;
};

// encode(prompt) + encode(response) (+ eos_id unless that already ends with it). The two parts are
// tokenized separately, as the prompt is at generation time. Throws dsrl::Error on an empty document.
TokenizedDoc tokenize_document(const Document& doc, const Tokenizer& tokenizer, int32_t eos_id);

// Rows of seq_len + 1 tokens; row-major.
struct PackedBatch {
  int64_t rows = 0;
  int64_t seq_len = 0;
  std::vector<int32_t> tokens;     // [rows, seq_len + 1]: inputs tokens[:, :-1], targets tokens[:, 1:]
  std::vector<uint8_t> loss_mask;  // [rows, seq_len]: 1 where the target tokens[r, t + 1] is trained
  std::vector<int32_t> doc_ids;    // [rows, seq_len + 1]: each token's document (corpus index); -1 for padding

  explicit PackedBatch(int64_t seq_len_ = 0) : seq_len(seq_len_) {}
  int32_t token(int64_t row, int64_t t) const { return tokens[row * (seq_len + 1) + t]; }
  bool trained(int64_t row, int64_t t) const { return loss_mask[row * seq_len + t] != 0; }
  int64_t trained_targets() const;  // number of 1s in loss_mask
};

// The stream of one epoch: `docs` in the order `order` (corpus indices, repeats allowed).
class PackedStream {
 public:
  PackedStream(const std::vector<TokenizedDoc>& docs, std::vector<int32_t> order, int64_t seq_len, bool sft,
               int32_t pad_id);
  int64_t length() const { return start_.back(); }  // tokens in the stream
  int64_t rows() const;                              // rows this stream packs into
  // Appends row r (in [0, rows())) to `batch` (whose seq_len must match).
  void append_row(int64_t r, PackedBatch& batch) const;

 private:
  const std::vector<TokenizedDoc>& docs_;
  std::vector<int32_t> order_;  // corpus index of the k-th document of the stream
  std::vector<int64_t> start_;  // stream position of the k-th document's first token; start_.back() = length
  int64_t seq_len_;
  bool sft_;
  int32_t pad_id_;
};

// Every row of `docs` packed in the given order (tests, small corpora).
PackedBatch pack_all(const std::vector<TokenizedDoc>& docs, const std::vector<int32_t>& order, int64_t seq_len,
                     bool sft, int32_t pad_id);

}  // namespace dsrl
