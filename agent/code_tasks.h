// Code-agent tasks (torch-free): a tiny repository whose visible test fails because of one bug, hidden tests that
// decide the reward, and the workspace tools the agent fixes it with. Each trajectory gets its own Workspace.
//   files:   solution.py (with the bug), test_solution.py (a unittest the bug breaks)
//   tools:   list_files, read_file {path}, write_file {path, content}, run_tests (python -m unittest in the sandbox)
//   reward:  hidden_tests_pass: the hidden unittest file, run beside the final files in the sandbox, passes
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/python_tool.h"
#include "agent/tools.h"

namespace dsrl {

struct CodeTask {
  std::string statement;                      // the user message
  std::map<std::string, std::string> files;   // the repository as the agent finds it
  std::string hidden_tests;                   // test_hidden.py
  std::string fixed_solution;                 // solution.py without the bug (cold start, tests)
  std::string family;                         // mean | clamp | count_vowels | last_n
};

// `count` tasks cycling through the families with seeded constants. Throws dsrl::Error on count outside
// [1, 100000].
std::vector<CodeTask> make_code_tasks(int64_t count, uint64_t seed);

// The files one trajectory works on (not shared between trajectories).
struct Workspace {
  std::map<std::string, std::string> files;
  int64_t max_file_bytes = 65536;  // write_file refuses more
  int64_t max_files = 32;          // and more files than this
};

// The four workspace tools over `workspace`, running tests with `python` (both must outlive the registry).
ToolRegistry workspace_tools(Workspace& workspace, const PythonTool& python);
// The same four added to `registry` (after the tools it has).
void add_workspace_tools(ToolRegistry& registry, Workspace& workspace, const PythonTool& python);

// Runs `hidden_tests` (as test_hidden.py, replacing any file of that name) beside `files` in the sandbox; true when
// unittest exits 0 and reports OK. `output` (optional) receives what it printed. The solution's code runs in the
// same process, so a policy that learned to end the process with a fake "OK" could still fool it: this checks
// honest fixes, it is not hardened against reward hacking.
bool hidden_tests_pass(const PythonTool& python, const std::map<std::string, std::string>& files,
                       const std::string& hidden_tests, std::string* output = nullptr);

}  // namespace dsrl
