// Built-in synthetic corpora with checkable answers, so demos and tests need no downloads (torch-free).
//   arithmetic: "What is 37 + 58?"                    -> "95"     (+, - and *, operands in [0, max_value])
//   copy:       "Copy this string exactly: qwerty"    -> "qwerty"
//   reverse:    "Reverse this string: qwerty"         -> "ytrewq"
// Each example becomes a chat-format prompt/response Document (data_source.h chat_document), so SFT masking
// trains only the answer. check_answer() recomputes the answer from the question alone: a reward function can
// use it on generated text.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "trainer/data_config.h"
#include "trainer/data_source.h"

namespace dsrl {

struct SyntheticExample {
  std::string question;  // the user turn
  std::string answer;    // the correct assistant answer
};

// The tasks make_synthetic knows.
const std::vector<std::string>& synthetic_tasks();
// `config.count` examples of `config.task`, the same for the same config. Throws dsrl::Error on an unknown task.
std::vector<SyntheticExample> make_synthetic(const SyntheticConfig& config);
// The same examples as chat-format documents.
std::vector<Document> synthetic_documents(const SyntheticConfig& config);

// The correct answer to `question` of `task`, or nullopt when the question is not one the task writes.
std::optional<std::string> expected_answer(const std::string& task, const std::string& question);
// Whether `answer` answers `question` correctly: equal to the expected answer after trimming whitespace and a
// trailing end-of-sentence marker (so a generated completion can be passed as it is). False for a question the
// task does not write.
bool check_answer(const std::string& task, const std::string& question, const std::string& answer);

}  // namespace dsrl
