#include "agent/records_proposals.h"

#include <fmt/format.h>

#include <cctype>
#include <regex>

namespace dsrl {
namespace {

constexpr const char* kFence = "```python\n";

std::string trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

// Whether `word` occurs in `text` as a whole word (not inside a longer name or number).
bool mentions(const std::string& text, const std::string& word) {
  auto part_of_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool starts = at == 0 || !part_of_word(text[at - 1]);
    const size_t end = at + word.size();
    if (starts && (end == text.size() || !part_of_word(text[end]))) return true;
  }
  return false;
}

// A value the program compares a field with (`== 'x'` or `== "x"`) that the question does not name: such a
// program answers another question (another order, another customer) than the one it came with.
std::optional<std::string> unmentioned_lookup(const TaskProposal& p) {
  static const std::regex kCompared(R"(==\s*(['"])([^'"]*)\1)");
  for (std::sregex_iterator it(p.program.begin(), p.program.end(), kCompared), end; it != end; ++it) {
    const std::string value = (*it)[2].str();
    if (value.empty() || !mentions(p.question, value)) return value;
  }
  return std::nullopt;
}

}  // namespace

std::string records_proposal_prompt(const std::map<std::string, std::string>& files) {
  std::string tables;
  for (const auto& [path, content] : files) tables += path + ":\n" + content + "\n";
  return "Here is a shop database.\n\n" + tables +
         "Write a new question about it whose answer is a whole number, and a Python program that computes the "
         "answer from these files and prints it. Reply as:\nQuestion: <the question>\n" + kFence +
         "<the program>\n```";
}

std::string records_worked_proposal(const RecordsTask& task) {
  return "Question: " + task.question + "\n" + kFence + task.solution_program + "```";
}

std::optional<TaskProposal> parse_task_proposal(const std::string& reply, std::string* why) {
  auto fail = [&](const char* message) -> std::optional<TaskProposal> {
    *why = message;
    return std::nullopt;
  };
  const size_t q = reply.find("Question:");
  if (q == std::string::npos) return fail("no \"Question:\" line");
  const size_t line_end = reply.find('\n', q);
  if (line_end == std::string::npos) return fail("no program after the question");
  TaskProposal p;
  p.question = trimmed(reply.substr(q + 9, line_end - q - 9));
  if (p.question.empty() || p.question.back() != '?') return fail("the question is empty or does not end in '?'");
  const size_t code = reply.find(kFence, line_end);
  if (code == std::string::npos) return fail("no ```python block after the question");
  const size_t start = code + std::char_traits<char>::length(kFence);
  const size_t end = reply.find("```", start);
  if (end == std::string::npos) return fail("the ```python block is not closed");
  p.program = reply.substr(start, end - start);
  if (trimmed(p.program).empty()) return fail("the program is empty");
  return p;
}

std::optional<std::string> proposal_answer(const TaskProposal& proposal,
                                           const std::map<std::string, std::string>& files, const PythonTool& python,
                                           std::string* why) {
  if (const auto value = unmentioned_lookup(proposal)) {
    *why = fmt::format("the program looks up '{}', which the question does not name", *value);
    return std::nullopt;
  }
  std::map<std::string, std::string> all = files;
  all["proposal.py"] = proposal.program;
  const SandboxResult r = python.run_files(all, {"proposal.py"});
  const std::string output = trimmed(r.output);
  static const std::regex kInteger("-?[0-9]{1,18}");
  if (r.clean() && std::regex_match(output, kInteger)) return output;
  *why = fmt::format("the program ended with {} and printed '{}'", r.ending(), output.substr(0, 200));
  return std::nullopt;
}

}  // namespace dsrl
