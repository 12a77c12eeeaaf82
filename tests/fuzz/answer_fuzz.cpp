// libFuzzer target: answer extraction and equivalence (the rule reward) on arbitrary responses. The first line of
// the input is the reference answer, the rest the response. Must not crash; an answer that normalises to some
// text is equivalent to itself (one that normalises to nothing, such as ".", matches nothing).
#include <string>

#include "common/answer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string reference = input.substr(0, newline);
  const std::string response = newline == std::string::npos ? "" : input.substr(newline + 1);
  dsrl::fuzz::refusing_is_fine([&] {
    std::optional<std::string> answer = dsrl::extract_answer(response, dsrl::answer_extractors());
    if (answer) {
      dsrl::answers_equivalent(*answer, reference);
      if (!dsrl::normalize_answer(*answer).empty())
        dsrl::fuzz::require(dsrl::answers_equivalent(*answer, *answer), "an extracted answer differs from itself");
    }
    dsrl::normalize_answer(response);
    dsrl::last_boxed(response);
  });
  return 0;
}
