// Policy-written records tasks (torch-free; stage synthesize with synth.policy_tasks, docs/synthesis.md). The
// policy is shown a database (a records task's CSV tables) and writes a new question with a Python program that
// answers it from the tables. The program is the task's verifier: run in the sandbox beside the tables, the one
// integer it prints becomes the task's answer. A proposal that cannot be read, whose program looks up something
// the question does not name, fails, or prints anything else is rejected with the reason.
//   Question: How many lamps were ordered?
//   ```python
//   import csv
//   print(sum(int(o['quantity']) for o in csv.DictReader(open('orders.csv')) if o['item'] == 'lamp'))
//   ```
#pragma once

#include <map>
#include <optional>
#include <string>

#include "agent/python_tool.h"
#include "agent/records.h"

namespace dsrl {

// The user message asking for a proposal about the database in `files` (its tables inline).
std::string records_proposal_prompt(const std::map<std::string, std::string>& files);

// A template task's own proposal (its question and solution program) in the reply format: the cold start.
std::string records_worked_proposal(const RecordsTask& task);

struct TaskProposal {
  std::string question;  // one line, ending in "?"
  std::string program;   // the Python code block
};

// The proposal in a reply: the first "Question: ...?" line and the first ```python block after it. nullopt, with
// *why set, when either is missing or empty.
std::optional<TaskProposal> parse_task_proposal(const std::string& reply, std::string* why);

// Runs the proposal's program beside `files` in the sandbox: the answer when it exited cleanly and printed one
// integer (at most 18 digits), else nullopt with *why set (its ending and the start of its output). First, each
// value the program compares a field with (`== 'x'`) must be named in the question as a whole word: a program
// that looks up another order or customer than the question asks about would verify another task.
std::optional<std::string> proposal_answer(const TaskProposal& proposal,
                                           const std::map<std::string, std::string>& files, const PythonTool& python,
                                           std::string* why);

}  // namespace dsrl
