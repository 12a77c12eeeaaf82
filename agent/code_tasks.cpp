#include "agent/code_tasks.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <random>

#include "common/error.h"

namespace dsrl {
namespace {

const char* const kStatement =
    "The test in test_solution.py fails. Find the bug in solution.py and fix it, using the tools list_files, "
    "read_file, write_file and run_tests. When the tests pass, say so.";

std::string unittest(const std::string& name, const std::vector<std::string>& checks) {
  std::string body;
  for (const auto& c : checks) body += "        self." + c + "\n";
  return "import unittest\nfrom solution import *\n\n\nclass " + name + "(unittest.TestCase):\n    def test(self):\n" +
         body + "\n\nif __name__ == '__main__':\n    unittest.main()\n";
}

CodeTask mean_task(std::mt19937_64& rng) {
  const int a = 1 + static_cast<int>(rng() % 50) * 2, b = a + 1, k = 3 + static_cast<int>(rng() % 90);
  const std::string bug = "def mean(xs):\n    return sum(xs) // len(xs)\n";
  const std::string fixed = "def mean(xs):\n    return sum(xs) / len(xs)\n";
  return {kStatement,
          {{"solution.py", bug}, {"test_solution.py", unittest("Visible", {fmt::format("assertEqual(mean([{}, {}]), {}.5)", a, b, a)})}},
          unittest("Hidden", {fmt::format("assertEqual(mean([{}]), {})", k, k),
                              fmt::format("assertAlmostEqual(mean([{}, {}]), {}.5)", k, k + 1, k)}),
          fixed, "mean"};
}

CodeTask clamp_task(std::mt19937_64& rng) {
  const int lo = static_cast<int>(rng() % 10), hi = lo + 5 + static_cast<int>(rng() % 20);
  const std::string bug = "def clamp(x, lo, hi):\n    return max(lo, min(x, lo))\n";
  const std::string fixed = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n";
  return {kStatement,
          {{"solution.py", bug}, {"test_solution.py", unittest("Visible", {fmt::format("assertEqual(clamp({}, {}, {}), {})", hi + 7, lo, hi, hi)})}},
          unittest("Hidden", {fmt::format("assertEqual(clamp({}, {}, {}), {})", lo - 3, lo, hi, lo),
                              fmt::format("assertEqual(clamp({}, {}, {}), {})", lo + 2, lo, hi, lo + 2)}),
          fixed, "clamp"};
}

CodeTask vowels_task(std::mt19937_64& rng) {
  static const char* const words[] = {"ApplE", "OrbIt", "EchO", "UmbrA", "IglOO", "AudIO"};
  const std::string w = words[rng() % 6];
  int vowels = 0;
  for (char c : w) vowels += std::string("aeiouAEIOU").find(c) != std::string::npos;
  const std::string bug = "def count_vowels(s):\n    return sum(1 for c in s if c in 'aeiou')\n";
  const std::string fixed = "def count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')\n";
  return {kStatement,
          {{"solution.py", bug}, {"test_solution.py", unittest("Visible", {fmt::format("assertEqual(count_vowels('{}'), {})", w, vowels)})}},
          unittest("Hidden", {"assertEqual(count_vowels('xyz'), 0)", "assertEqual(count_vowels('AEIOU aeiou'), 10)"}),
          fixed, "count_vowels"};
}

CodeTask last_n_task(std::mt19937_64& rng) {
  const int n = 2 + static_cast<int>(rng() % 4);
  const std::string bug = "def last_n(xs, n):\n    return xs[-n:]\n";
  const std::string fixed = "def last_n(xs, n):\n    return xs[len(xs) - n:] if n > 0 else []\n";
  return {kStatement,
          {{"solution.py", bug}, {"test_solution.py", unittest("Visible", {"assertEqual(last_n([1, 2, 3], 0), [])"})}},
          unittest("Hidden", {fmt::format("assertEqual(last_n(list(range(10)), {}), list(range({}, 10)))", n, 10 - n),
                              fmt::format("assertEqual(last_n([{}, {}], 0), [])", n, n + 1)}),
          fixed, "last_n"};
}

ToolResult error(const std::string& what) { return {"error: " + what, false}; }

// Interpreter arguments that run unittest.main(module=...) with the work folder at the end of sys.path, so a file
// the agent wrote (unittest.py, os.py) cannot stand in for a standard module.
std::vector<std::string> unittest_args(const std::string& main_args) {
  return {"-c", "import sys, unittest; sys.path.append('.'); unittest.main(module=" + main_args + ")"};
}

// The string argument `key`, or nullptr (the caller answers with an error).
const nlohmann::json* string_arg(const nlohmann::json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && it->is_string() ? &*it : nullptr;
}

class ListFilesTool : public Tool {
 public:
  explicit ListFilesTool(const Workspace& w) : w_(w) {}
  std::string name() const override { return "list_files"; }
  std::string schema_json() const override { return tool_schema(name(), "Lists the repository's files.", {}); }
  ToolResult call(const std::string&) override {
    std::string out;
    for (const auto& [path, content] : w_.files) out += fmt::format("{} ({} bytes)\n", path, content.size());
    return {out.empty() ? "(no files)" : out, true};
  }

 private:
  const Workspace& w_;
};

class ReadFileTool : public Tool {
 public:
  explicit ReadFileTool(const Workspace& w) : w_(w) {}
  std::string name() const override { return "read_file"; }
  std::string schema_json() const override {
    return tool_schema(name(), "Returns a file's content.", {{"path", "string", "as list_files shows it"}});
  }
  ToolResult call(const std::string& arguments) override {
    const nlohmann::json args = nlohmann::json::parse(arguments);
    const auto* path = string_arg(args, "path");
    if (!path) return error("read_file needs a string argument \"path\"");
    auto it = w_.files.find(path->get<std::string>());
    if (it == w_.files.end()) return error(fmt::format("no file '{}' (use list_files)", path->get<std::string>()));
    return {it->second, true};
  }

 private:
  const Workspace& w_;
};

class WriteFileTool : public Tool {
 public:
  explicit WriteFileTool(Workspace& w) : w_(w) {}
  std::string name() const override { return "write_file"; }
  std::string schema_json() const override {
    return tool_schema(name(), "Replaces a file's content (or creates the file).",
                       {{"path", "string", "a relative path"}, {"content", "string", "the whole new content"}});
  }
  ToolResult call(const std::string& arguments) override {
    const nlohmann::json args = nlohmann::json::parse(arguments);
    const auto *path = string_arg(args, "path"), *content = string_arg(args, "content");
    if (!path || !content) return error("write_file needs string arguments \"path\" and \"content\"");
    const std::string p = path->get<std::string>();
    if (!is_relative_inside(p))
      return error(fmt::format("'{}' is not a relative path inside the repository", p));
    if (static_cast<int64_t>(content->get<std::string>().size()) > w_.max_file_bytes)
      return error(fmt::format("the content is more than {} bytes", w_.max_file_bytes));
    if (!w_.files.count(p) && static_cast<int64_t>(w_.files.size()) >= w_.max_files)
      return error(fmt::format("the repository already has {} files", w_.max_files));
    w_.files[p] = content->get<std::string>();
    return {fmt::format("wrote {} ({} bytes)", p, w_.files[p].size()), true};
  }

 private:
  Workspace& w_;
};

class RunTestsTool : public Tool {
 public:
  RunTestsTool(const Workspace& w, const PythonTool& python) : w_(w), python_(python) {}
  std::string name() const override { return "run_tests"; }
  std::string schema_json() const override {
    return tool_schema(name(), "Runs the repository's unittest tests and returns their output.", {});
  }
  ToolResult call(const std::string&) override {
    return sandbox_tool_result(python_.run_files(w_.files, unittest_args("None, argv=['tests', 'discover', '-q']")));
  }

 private:
  const Workspace& w_;
  const PythonTool& python_;
};

}  // namespace

std::vector<CodeTask> make_code_tasks(int64_t count, uint64_t seed) {
  DSRL_CHECK(count >= 1 && count <= 100000, "code tasks: count must be in [1, 100000], got {}", count);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 13);
  std::vector<CodeTask> out;
  for (int64_t i = 0; i < count; ++i) {
    switch (i % 4) {
      case 0: out.push_back(mean_task(rng)); break;
      case 1: out.push_back(clamp_task(rng)); break;
      case 2: out.push_back(vowels_task(rng)); break;
      default: out.push_back(last_n_task(rng)); break;
    }
  }
  return out;
}

void add_workspace_tools(ToolRegistry& registry, Workspace& workspace, const PythonTool& python) {
  registry.add(std::make_unique<ListFilesTool>(workspace));
  registry.add(std::make_unique<ReadFileTool>(workspace));
  registry.add(std::make_unique<WriteFileTool>(workspace));
  registry.add(std::make_unique<RunTestsTool>(workspace, python));
}

ToolRegistry workspace_tools(Workspace& workspace, const PythonTool& python) {
  ToolRegistry tools;
  add_workspace_tools(tools, workspace, python);
  return tools;
}

bool hidden_tests_pass(const PythonTool& python, const std::map<std::string, std::string>& files,
                       const std::string& hidden_tests, std::string* output) {
  std::map<std::string, std::string> all = files;
  all["test_hidden.py"] = hidden_tests;  // replaces any file of that name the agent wrote
  // Only the hidden module runs (a test file the agent wrote cannot end the run early), and unittest must say OK.
  const SandboxResult r = python.run_files(all, unittest_args("'test_hidden', argv=['test_hidden', '-q']"));
  if (output) *output = r.output;
  return r.clean() && r.output.find("\nOK") != std::string::npos;
}

}  // namespace dsrl
