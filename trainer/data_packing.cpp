#include "trainer/data_packing.h"

#include <algorithm>

#include "common/error.h"

namespace dsrl {

TokenizedDoc tokenize_document(const Document& doc, const Tokenizer& tokenizer, int32_t eos_id) {
  TokenizedDoc out;
  out.ids = tokenizer.encode(doc.prompt);
  out.prompt_len = static_cast<int64_t>(out.ids.size());
  const std::vector<int32_t> response = tokenizer.encode(doc.response);
  out.ids.insert(out.ids.end(), response.begin(), response.end());
  DSRL_CHECK(!out.ids.empty(), "a data document must not be empty (prompt '{}', response '{}')", doc.prompt,
             doc.response);
  if (out.ids.back() != eos_id) out.ids.push_back(eos_id);
  return out;
}

int64_t PackedBatch::trained_targets() const {
  return std::count(loss_mask.begin(), loss_mask.end(), uint8_t{1});
}

PackedStream::PackedStream(const std::vector<TokenizedDoc>& docs, std::vector<int32_t> order, int64_t seq_len,
                           bool sft, int32_t pad_id)
    : docs_(docs), order_(std::move(order)), seq_len_(seq_len), sft_(sft), pad_id_(pad_id) {
  DSRL_CHECK(seq_len >= 1, "seq_len must be >= 1, got {}", seq_len);
  start_.reserve(order_.size() + 1);
  start_.push_back(0);
  for (int32_t index : order_) {
    DSRL_CHECK(index >= 0 && static_cast<size_t>(index) < docs.size(), "document index must be in [0, {}), got {}",
               docs.size(), index);
    start_.push_back(start_.back() + static_cast<int64_t>(docs[index].ids.size()));
  }
}

int64_t PackedStream::rows() const {
  return length() <= 1 ? 0 : (length() - 1 + seq_len_ - 1) / seq_len_;
}

void PackedStream::append_row(int64_t r, PackedBatch& batch) const {
  DSRL_CHECK(r >= 0 && r < rows(), "row must be in [0, {}), got {}", rows(), r);
  DSRL_CHECK_EQ(batch.seq_len, seq_len_, "PackedBatch seq_len");
  const int64_t first = r * seq_len_;
  // k: the document holding stream position `first` (the last start <= first).
  size_t k = static_cast<size_t>(std::upper_bound(start_.begin(), start_.end(), first) - start_.begin()) - 1;
  std::vector<uint8_t> trained(static_cast<size_t>(seq_len_ + 1), 0);
  for (int64_t t = 0; t <= seq_len_; ++t) {
    const int64_t p = first + t;
    if (p >= length()) {  // past the end of the epoch: padding, never trained
      batch.tokens.push_back(pad_id_);
      batch.doc_ids.push_back(-1);
      continue;
    }
    while (start_[k + 1] <= p) ++k;
    const TokenizedDoc& doc = docs_[order_[k]];
    const int64_t offset = p - start_[k];
    batch.tokens.push_back(doc.ids[offset]);
    batch.doc_ids.push_back(order_[k]);
    trained[t] = offset > 0 && !(sft_ && offset < doc.prompt_len);
  }
  batch.loss_mask.insert(batch.loss_mask.end(), trained.begin() + 1, trained.end());  // mask[t] is about t + 1
  ++batch.rows;
}

PackedBatch pack_all(const std::vector<TokenizedDoc>& docs, const std::vector<int32_t>& order, int64_t seq_len,
                     bool sft, int32_t pad_id) {
  PackedStream stream(docs, order, seq_len, sft, pad_id);
  PackedBatch batch(seq_len);
  for (int64_t r = 0; r < stream.rows(); ++r) stream.append_row(r, batch);
  return batch;
}

}  // namespace dsrl
