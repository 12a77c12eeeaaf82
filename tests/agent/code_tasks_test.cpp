// Code-agent tasks: each family's bug breaks its visible and hidden tests and its fix passes them; the workspace
// tools refuse bad paths and oversize writes; and through the agent loop each trajectory edits its own workspace.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/code_tasks.h"
#include "agent/loop.h"
#include "model/tokenizer.h"

namespace dsrl {
namespace {

const PythonTool& python() {
  static const PythonTool* p = new PythonTool(PythonToolConfig{});
  return *p;
}

std::string args(const nlohmann::json& j) { return j.dump(); }

TEST(CodeTasks, TheBugFailsTheHiddenTestsAndTheFixPassesThem) {
  for (const CodeTask& t : make_code_tasks(4, 2)) {
    std::string output;
    EXPECT_FALSE(hidden_tests_pass(python(), t.files, t.hidden_tests, &output)) << t.family << ": " << output;
    std::map<std::string, std::string> fixed = t.files;
    fixed["solution.py"] = t.fixed_solution;
    EXPECT_TRUE(hidden_tests_pass(python(), fixed, t.hidden_tests, &output)) << t.family << ": " << output;
    Workspace w{t.files};
    ToolRegistry tools = workspace_tools(w, python());
    EXPECT_FALSE(tools.call("run_tests", "{}").ok) << t.family << ": the visible test must fail before the fix";
    w.files["solution.py"] = t.fixed_solution;
    EXPECT_TRUE(tools.call("run_tests", "{}").ok) << t.family;
  }
}

TEST(CodeTasks, HiddenTestsIgnoreATestFileThatExitsEarly) {
  const CodeTask t = make_code_tasks(1, 3)[0];
  std::map<std::string, std::string> files = t.files;
  files["test_zzz.py"] = "import os\nos._exit(0)\n";
  files["test_hidden.py"] = "print('fake')\n";  // replaced by the real one
  files["unittest.py"] = "import os\nprint('OK')\nos._exit(0)\n";  // must not stand in for the real module
  EXPECT_FALSE(hidden_tests_pass(python(), files, t.hidden_tests));
}

TEST(CodeTasks, WorkspaceToolsRefuseBadPathsAndSizes) {
  Workspace w{{{"solution.py", "x = 1\n"}}};
  w.max_file_bytes = 100;
  w.max_files = 2;
  ToolRegistry tools = workspace_tools(w, python());
  EXPECT_NE(tools.call("list_files", "{}").text.find("solution.py (6 bytes)"), std::string::npos);
  EXPECT_EQ(tools.call("read_file", args({{"path", "solution.py"}})).text, "x = 1\n");
  EXPECT_FALSE(tools.call("read_file", args({{"path", "missing.py"}})).ok);
  const std::vector<std::string> bad_paths = {"../escape.py", "/etc/passwd", "a/../../b.py", "",
                                              std::string("a\0b.py", 6)};
  for (const std::string& bad : bad_paths)
    EXPECT_FALSE(tools.call("write_file", args({{"path", bad}, {"content", "x"}})).ok) << bad;
  EXPECT_FALSE(tools.call("write_file", args({{"path", "big.py"}, {"content", std::string(101, 'x')}})).ok);
  EXPECT_TRUE(tools.call("write_file", args({{"path", "pkg/new0.py"}, {"content", "y = 2\n"}})).ok);
  EXPECT_FALSE(tools.call("write_file", args({{"path", "third.py"}, {"content", ""}})).ok) << "max_files";
  EXPECT_FALSE(tools.call("write_file", args({{"path", "solution.py"}})).ok) << "no content";
  EXPECT_EQ(w.files.size(), 2u);
}

// Two trajectories on the same task, each with its own workspace: one writes the fix, one does not.
TEST(CodeTasks, EachTrajectoryEditsItsOwnWorkspace) {
  const CodeTask t = make_code_tasks(1, 4)[0];
  const auto tokenizer = make_byte_tokenizer();
  std::vector<Workspace> spaces(2, Workspace{t.files});
  std::vector<ToolRegistry> registries;
  for (auto& w : spaces) registries.push_back(workspace_tools(w, python()));
  const std::vector<const ToolRegistry*> tools = {&registries[0], &registries[1]};
  // What the model writes for an assistant turn in chat mode, as the format renders it.
  auto written = [](const ChatMessage& turn) {
    ChatOptions o;
    o.thinking = false;
    std::vector<ChatMessage> m = {{"user", "x", "", {}}, turn};
    for (size_t k = 0; k < turn.tool_calls.size(); ++k) m.push_back({"tool", "", "", {}});
    return render_chat_message(m, 1, o);
  };
  // The fixer writes the fix, runs the tests, answers; the idle one runs the tests and answers.
  TurnGenerator policy = [&](const std::vector<TurnRequest>& batch) {
    std::vector<TurnOutput> out;
    for (const TurnRequest& r : batch) {
      const std::string seen = tokenizer->decode(r.context);
      const bool fixer = seen.find("fixer: ") != std::string::npos;
      size_t results = 0;
      for (size_t at = seen.find("<result>"); at != std::string::npos; at = seen.find("<result>", at + 1)) ++results;
      const ChatMessage write = {"assistant", "", "", {{"write_file", args({{"path", "solution.py"}, {"content", t.fixed_solution}})}}};
      const ChatMessage run = {"assistant", "", "", {{"run_tests", "{}"}}};
      const ChatMessage done = {"assistant", "done", "", {}};
      const std::vector<ChatMessage> script = fixer ? std::vector<ChatMessage>{write, run, done} : std::vector<ChatMessage>{run, done};
      TurnOutput o;
      o.tokens = tokenizer->encode(written(script.at(results)));
      o.logprobs.assign(o.tokens.size(), -1.f);
      o.stopped = true;
      out.push_back(o);
    }
    return out;
  };
  AgentConfig config;
  config.thinking = false;
  config.context_window = 8192;
  const auto result = run_agents({{{"user", "fixer: " + t.statement, "", {}}}, {{"user", "idle: " + t.statement, "", {}}}},
                                 *tokenizer, tools, config, policy);
  ASSERT_EQ(result.size(), 2u);
  EXPECT_EQ(result[0].finish, "answered") << result[0].error;
  EXPECT_EQ(spaces[0].files.at("solution.py"), t.fixed_solution);
  EXPECT_EQ(spaces[1].files.at("solution.py"), t.files.at("solution.py")) << "the other workspace is untouched";
  EXPECT_TRUE(hidden_tests_pass(python(), spaces[0].files, t.hidden_tests));
  EXPECT_FALSE(hidden_tests_pass(python(), spaces[1].files, t.hidden_tests));
}

}  // namespace
}  // namespace dsrl
