// dsrl-agent-data: writes a built-in agent task as files the GRPO stage and the lm stage read.
//   dsrl-agent-data --set out=data/multihop --set multihop.people=500        (task: multihop, the default)
//   -> corpus.jsonl      {id, title, text}: the encyclopedia (grpo.agent.corpus)
//      questions.jsonl   {prompt, answer, person, town}: one task per line (grpo.tasks[].path)
//      cold_start.jsonl  {prompt, response}: each turn of a worked trajectory (search the person, search the town,
//                        answer), rendered with the search and open tools as the agent loop renders them, for
//                        stage lm with chat: false
//   dsrl-agent-data --set task=compute --set out=data/compute --set count=500
//   -> questions.jsonl   {prompt, answer, family}: questions a program answers (tools: python, calculator)
//      cold_start.jsonl  the worked trajectory (one python call, run in the sandbox for its real output; answer)
//   dsrl-agent-data --set task=code --set out=data/code --set count=300
//   -> questions.jsonl   {prompt, answer: the hidden tests, files: {path: content}, family}: a repository with a
//                        failing test (tools: workspace; reward: code_tests)
//      cold_start.jsonl  the worked trajectory (read solution.py, write the fix, run the tests, say they pass),
//                        its tool results real and its fix checked against the hidden tests
//   dsrl-agent-data --set task=records --set out=data/records --set count=300 [--set difficulty=2]
//   -> questions.jsonl   {prompt, answer, files: the database's CSV tables, difficulty, template}: general-agent
//                        questions over a shop database (tools: records, calculator; reward task type records);
//                        count per difficulty, every difficulty when difficulty is 0
//      cold_start.jsonl  the worked trajectory (the queries, the calculator's sum, "Answer: N"), tool results real
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "agent/bm25.h"
#include "agent/calculator.h"
#include "agent/code_tasks.h"
#include "agent/compute_tasks.h"
#include "agent/multihop.h"
#include "agent/python_tool.h"
#include "agent/records.h"
#include "common/cli.h"
#include "model/chat.h"

namespace dsrl {

struct AgentDataConfig {
  std::string task = "multihop";      // multihop | compute | code | records
  std::string out = "data/multihop";  // folder for the files (created)
  MultihopConfig multihop;
  int64_t count = 300;                // compute, code, records: tasks (records: per difficulty)
  uint64_t seed = 1;                  // compute, code, records: the tasks' seed
  int difficulty = 0;                 // records: 1..3, or 0 for each in turn
  PythonToolConfig python;            // compute, code: the interpreter the cold-start programs and tests run in
  bool thinking = false;              // render the cold-start turns in thinking mode (as grpo.agent.thinking)
  int64_t search_results = 3;         // hits per search in the cold-start trajectories (as grpo.agent.search_results)
  std::string tools_preamble;         // the tools section's text ("": dsrl's own; as grpo.agent.tools_preamble)
  LogConfig log;
};

void describe(ConfigIO& io, MultihopConfig& c) {
  io.field("people", c.people, int64_t{1}, int64_t{100000});
  io.field("towns", c.towns, int64_t{2}, int64_t{100000});
  io.field("provinces", c.provinces, int64_t{2}, int64_t{10000});
  io.field("seed", c.seed);
}

void describe(ConfigIO& io, AgentDataConfig& c) {
  io.choice("task", c.task, {"multihop", "compute", "code", "records"});
  io.field("out", c.out);
  io.section("multihop", c.multihop);
  io.field("count", c.count, int64_t{1}, int64_t{100000});
  io.field("seed", c.seed);
  io.field("difficulty", c.difficulty, 0, kRecordsMaxDifficulty);
  io.field("python", c.python.python);
  io.field("thinking", c.thinking);
  io.field("search_results", c.search_results, int64_t{1}, int64_t{100});
  io.field("tools_preamble", c.tools_preamble);
  io.section("log", c.log);
}

namespace {

// c.out, created.
std::filesystem::path output_dir(const AgentDataConfig& c) {
  const std::filesystem::path dir(c.out);
  std::filesystem::create_directories(dir);
  return dir;
}

std::ofstream open_out(const std::filesystem::path& path) {
  std::ofstream out(path);
  DSRL_CHECK(out.good(), "cannot write {}", path.string());
  return out;
}

// A worked trajectory, one {prompt, response} line per assistant turn; tool calls are run for their real results.
void write_cold_start(std::ofstream& out, const std::string& question, const std::vector<ChatMessage>& turns,
                      const ToolRegistry& tools, const AgentDataConfig& c) {
  ChatOptions chat;
  chat.thinking = c.thinking;
  chat.tools = tools.schemas();
  chat.tools_preamble = c.tools_preamble;
  std::vector<ChatMessage> history = {{"user", question, "", {}}};
  for (const ChatMessage& turn : turns) {
    const std::string prompt = render_chat(history, chat);
    const size_t at = history.size();
    history.push_back(turn);
    for (const ToolCall& call : turn.tool_calls)
      history.push_back({"tool", tools.call(call.name, call.arguments_json).text, "", {}});
    out << nlohmann::json{{"prompt", prompt}, {"response", render_chat_message(history, at, chat)}}.dump() << "\n";
  }
}

std::vector<ChatMessage> multihop_turns(const MultihopQuestion& q) {
  return {{"assistant", "", "First find where " + q.person + " was born.",
           {{"search", nlohmann::json{{"query", q.person}}.dump()}}},
          {"assistant", "", q.person + " was born in " + q.town + ". Now find the province of " + q.town + ".",
           {{"search", nlohmann::json{{"query", q.town}}.dump()}}},
          {"assistant", "Answer: " + q.answer, q.town + " lies in " + q.answer + ".", {}}};
}

int write_multihop(const AgentDataConfig& c) {
  const MultihopWorld world = make_multihop(c.multihop);
  const std::filesystem::path dir = output_dir(c);
  auto corpus = open_out(dir / "corpus.jsonl");
  for (const auto& d : world.corpus)
    corpus << nlohmann::json{{"id", d.id}, {"title", d.title}, {"text", d.text}}.dump() << "\n";
  auto questions = open_out(dir / "questions.jsonl");
  for (const auto& q : world.questions)
    questions << nlohmann::json{{"prompt", q.question}, {"answer", q.answer}, {"person", q.person}, {"town", q.town}}
                     .dump()
              << "\n";
  const Bm25Index index(world.corpus);
  ToolRegistry tools;
  tools.add(std::make_unique<SearchTool>(index, c.search_results));
  tools.add(std::make_unique<OpenTool>(index));
  auto cold = open_out(dir / "cold_start.jsonl");
  for (const auto& q : world.questions) write_cold_start(cold, q.question, multihop_turns(q), tools, c);
  fmt::print("wrote {} documents, {} questions and {} cold-start turns to {}\n", world.corpus.size(),
             world.questions.size(), 3 * world.questions.size(), dir.string());
  return 0;
}

int write_compute(const AgentDataConfig& c) {
  const std::vector<ComputeTask> tasks = make_compute_tasks(c.count, c.seed);
  const std::filesystem::path dir = output_dir(c);
  auto questions = open_out(dir / "questions.jsonl");
  for (const auto& t : tasks)
    questions << nlohmann::json{{"prompt", t.question}, {"answer", t.answer}, {"family", t.family}}.dump() << "\n";
  ToolRegistry tools;
  tools.add(std::make_unique<PythonTool>(c.python));
  tools.add(std::make_unique<CalculatorTool>());
  auto cold = open_out(dir / "cold_start.jsonl");
  for (size_t i = 0; i < tasks.size(); ++i) {
    const ComputeTask& t = tasks[i];
    write_cold_start(cold, t.question,
                     {{"assistant", "", "A short program computes this.",
                       {{"python", nlohmann::json{{"code", t.program}}.dump()}}},
                      {"assistant", "Answer: " + t.answer, "The program printed the answer.", {}}},
                     tools, c);
    if ((i + 1) % 100 == 0) fmt::print("{} of {} cold-start trajectories\n", i + 1, tasks.size());
  }
  fmt::print("wrote {} questions and {} cold-start turns to {}\n", tasks.size(), 2 * tasks.size(), dir.string());
  return 0;
}

int write_code(const AgentDataConfig& c) {
  const std::vector<CodeTask> tasks = make_code_tasks(c.count, c.seed);
  const std::filesystem::path dir = output_dir(c);
  auto questions = open_out(dir / "questions.jsonl");
  for (const auto& t : tasks)
    questions << nlohmann::json{{"prompt", t.statement}, {"answer", t.hidden_tests}, {"files", t.files},
                                {"family", t.family}}.dump()
              << "\n";
  const PythonTool python(c.python);
  auto cold = open_out(dir / "cold_start.jsonl");
  for (size_t i = 0; i < tasks.size(); ++i) {
    const CodeTask& t = tasks[i];
    Workspace workspace{t.files};
    const ToolRegistry tools = workspace_tools(workspace, python);
    const std::string fix = nlohmann::json{{"path", "solution.py"}, {"content", t.fixed_solution}}.dump();
    write_cold_start(cold, t.statement,
                     {{"assistant", "", "Read the code under test.", {{"read_file", R"({"path": "solution.py"})"}}},
                      {"assistant", "", "This is the bug; write the fixed file.", {{"write_file", fix}}},
                      {"assistant", "", "Check the fix.", {{"run_tests", "{}"}}},
                      {"assistant", "The tests pass now.", "The tests pass.", {}}},
                     tools, c);
    std::string output;
    DSRL_CHECK(hidden_tests_pass(python, workspace.files, t.hidden_tests, &output),
               "code task {} ({}): the worked fix fails its hidden tests:\n{}", i, t.family, output);
    if ((i + 1) % 100 == 0) fmt::print("{} of {} cold-start trajectories\n", i + 1, tasks.size());
  }
  fmt::print("wrote {} tasks and {} cold-start turns to {}\n", tasks.size(), 4 * tasks.size(), dir.string());
  return 0;
}

int write_records(const AgentDataConfig& c) {
  const std::filesystem::path dir = output_dir(c);
  auto questions = open_out(dir / "questions.jsonl");
  auto cold = open_out(dir / "cold_start.jsonl");
  int64_t written = 0, turns = 0;
  for (int d = 1; d <= kRecordsMaxDifficulty; ++d) {
    if (c.difficulty != 0 && d != c.difficulty) continue;
    for (const RecordsTask& t : make_records_tasks(c.count, d, c.seed)) {
      questions << nlohmann::json{{"prompt", t.statement}, {"answer", t.answer}, {"files", t.files},
                                  {"difficulty", t.difficulty}, {"template", t.template_name}}.dump()
                << "\n";
      const Workspace workspace{t.files};
      ToolRegistry tools;
      add_records_tools(tools, workspace);
      tools.add(std::make_unique<CalculatorTool>());
      std::vector<ChatMessage> steps;
      for (const auto& calls : t.solution_calls) {
        ChatMessage turn{"assistant", "", "", {}};
        for (const auto& [name, arguments] : calls) turn.tool_calls.push_back({name, arguments});
        steps.push_back(std::move(turn));
      }
      steps.push_back({"assistant", "Answer: " + t.answer, "", {}});
      write_cold_start(cold, t.statement, steps, tools, c);
      ++written;
      turns += static_cast<int64_t>(steps.size());
    }
  }
  fmt::print("wrote {} tasks and {} cold-start turns to {}\n", written, turns, dir.string());
  return 0;
}

}  // namespace
}  // namespace dsrl

int main(int argc, char** argv) {
  return dsrl::run_main<dsrl::AgentDataConfig>(
      argc, argv,
      "dsrl-agent-data: writes a built-in agent task (multihop: corpus, questions, cold-start turns; compute, code "
      "and records: questions, cold-start turns)",
      [](const dsrl::AgentDataConfig& c, const dsrl::CommandLine&) {
        if (c.task == "compute") return dsrl::write_compute(c);
        if (c.task == "records") return dsrl::write_records(c);
        return c.task == "code" ? dsrl::write_code(c) : dsrl::write_multihop(c);
      });
}
