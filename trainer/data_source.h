// Documents from files: plain text and JSONL (torch-free, library dsrl_trainer_data).
//   text:  documents separated by one or more blank lines (a line that is empty or only whitespace); the lines
//          of a document keep their newlines between them (CRLF read as LF); surrounding blank lines are dropped.
//   jsonl: one JSON object per line (blank lines skipped); a plain document is the string field text_field; an
//          SFT pair is prompt_field + response_field, rendered in the chat format when chat is true.
// Every error names the file (and line): "data/sft.jsonl:3: missing string field \"answer\"".
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "common/jsonl.h"  // read_jsonl_objects
#include "model/chat.h"
#include "trainer/data_config.h"

namespace dsrl {

// One training document. A plain document has an empty prompt. With sft on, the prompt's tokens are not trained.
struct Document {
  std::string prompt;    // context only (SFT): e.g. "<｜begin▁of▁sentence｜><｜User｜>What is 2 + 2?<｜Assistant｜></think>"
  std::string response;  // trained text: e.g. "4<｜end▁of▁sentence｜>"
};

// The options the chat rendering of prompt/response pairs uses (chat mode: no reasoning, add BOS).
ChatOptions data_chat_options();
// A user prompt and the assistant's answer as one chat-format Document (the answer ends with the EOS marker).
Document chat_document(const std::string& user, const std::string& answer);

// Reads every document of a text file. Throws dsrl::Error naming the file when it cannot be read.
std::vector<Document> read_text_documents(const std::string& path);
// Reads every document of a JSONL file per `source` (fields, chat). Throws dsrl::Error naming file and line on
// a line that is not a JSON object, a missing field or one that is not a string.
std::vector<Document> read_jsonl_documents(const DataSourceConfig& source);
// Either of the above per source.format.
std::vector<Document> read_documents(const DataSourceConfig& source);

}  // namespace dsrl
