// The `data:` section of a training stage's config: where documents come from and how they become packed rows.
//   data:
//     seq_len: 1024            # tokens per row (inputs); each row holds seq_len + 1 tokens (inputs + targets)
//     seed: 1
//     sft: true                # prompt tokens are not trained on
//     sources:
//       - {path: corpus.txt, format: text}
//       - {path: sft.jsonl, format: jsonl, prompt_field: question, response_field: answer, weight: 2}
//     synthetic: {task: arithmetic, count: 1000, seed: 3}
// The pipeline is data_loader.h; data_source.h says how each format splits into documents.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"

namespace dsrl {

// One file of documents.
struct DataSourceConfig {
  std::string path;                // the file (relative paths are relative to the working directory)
  std::string format = "text";     // text: documents separated by blank lines; jsonl: one JSON object per line
  std::string text_field = "text"; // jsonl: the string field holding a plain document
  // jsonl SFT pairs: when both are set, each line is a prompt/response pair (text_field is then unused) rendered
  // as one user turn and the assistant's answer in the chat format (model/chat.h), unless chat is false.
  std::string prompt_field;        // jsonl: the string field holding the prompt; empty: plain documents
  std::string response_field;      // jsonl: the string field holding the response
  bool chat = true;                // prompt/response pairs: render in the chat format (else prompt + response)
  double weight = 1.0;             // documents per epoch = round(weight * documents in the file), in (0, 1000]
};
void describe(ConfigIO& io, DataSourceConfig& c);

// A built-in corpus made on the fly (data_synthetic.h), rendered in the chat format as prompt/response pairs.
struct SyntheticConfig {
  std::string task;          // arithmetic | copy | reverse; empty: no synthetic corpus
  int64_t count = 1000;      // examples, in [1, 10^7]
  uint64_t seed = 0;         // seed of the examples (the order is data.seed's business)
  int max_value = 99;        // arithmetic: operands in [0, max_value]
  int max_length = 12;       // copy/reverse: strings of 1..max_length lowercase letters
};
void describe(ConfigIO& io, SyntheticConfig& c);

struct DataConfig {
  std::vector<DataSourceConfig> sources;  // files; at least one source or a synthetic task
  SyntheticConfig synthetic;              // built-in corpus, added after the files
  int64_t seq_len = 1024;                 // tokens per packed row (the model's input length), in [1, 2^20]
  uint64_t seed = 0;                      // seed of the document order (and of weighted subsets), per epoch
  bool shuffle = true;                    // shuffle the documents each epoch (false: file order, sources in order)
  bool sft = false;                       // mask prompt tokens out of the loss (prompt/response documents)
  std::string eos_token = "<｜end▁of▁sentence｜>";  // appended to every document that does not end with it
  std::string pad_token = "<｜▁pad▁｜>";            // fills the last row of an epoch (masked); eos if unknown
};
void describe(ConfigIO& io, DataConfig& c);

}  // namespace dsrl
