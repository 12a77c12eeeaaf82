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
//      proposals.jsonl   {prompt, response}: the task's database and its question with a program that prints the
//                        answer (stage lm with chat: true): teaches the policy to write tasks (synth.policy_tasks)
//   dsrl-agent-data --set task=proofs --set out=data/proofs --set count=500 [--set proofs.max_operations=4]
//   -> generator.jsonl   {prompt, answer: the claim "EXPR = V", problem, operations}: DeepSeekMath-V2 generator
//                        tasks on arithmetic derivations (reward task type proof_generator; stage refine reads it)
//      verifier.jsonl    {prompt, answer: the proof's score, problem, proof, flaw, issue}: verifier tasks, proofs
//                        rigorous or with a planted flaw (reward task type proof_verifier)
//      cold_start.jsonl  {prompt, response} user messages and replies for stage lm (chat: true), from other claims:
//                        a proof with its honest self-analysis, a verifier's analysis, and a revision of a flawed
//                        proof after its analysis
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "agent/bm25.h"
#include "agent/calculator.h"
#include "agent/code_tasks.h"
#include "agent/compute_tasks.h"
#include "agent/derivations.h"
#include "agent/multihop.h"
#include "agent/proof_format.h"
#include "agent/python_tool.h"
#include "agent/records.h"
#include "agent/records_proposals.h"
#include "common/cli.h"
#include "model/chat.h"

namespace dsrl {

// task=proofs: arithmetic derivations (agent/derivations.h).
struct ProofDataConfig {
  int min_operations = 2;             // operators per claim, from min to max in turn
  int max_operations = 3;
  double flawed_share = 0.4;          // share of cold-start generator proofs with a planted flaw (honestly scored)
};

struct AgentDataConfig {
  std::string task = "multihop";      // multihop | compute | code | records | proofs
  std::string out = "data/multihop";  // folder for the files (created)
  MultihopConfig multihop;
  int64_t count = 300;                // compute, code, records, proofs: tasks (records: per difficulty)
  uint64_t seed = 1;                  // compute, code, records, proofs: the tasks' seed
  ProofDataConfig proofs;
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

void describe(ConfigIO& io, ProofDataConfig& c) {
  io.field("min_operations", c.min_operations, 1, 6);
  io.field("max_operations", c.max_operations, 1, 6);
  if (c.max_operations < c.min_operations)
    io.fail("max_operations", fmt::format("must be >= min_operations ({}), got {}", c.min_operations, c.max_operations));
  io.field("flawed_share", c.flawed_share, 0.0, 1.0);
}

void describe(ConfigIO& io, AgentDataConfig& c) {
  io.choice("task", c.task, {"multihop", "compute", "code", "records", "proofs"});
  io.field("out", c.out);
  io.section("multihop", c.multihop);
  io.field("count", c.count, int64_t{1}, int64_t{100000});
  io.field("seed", c.seed);
  io.field("difficulty", c.difficulty, 0, kRecordsMaxDifficulty);
  io.section("proofs", c.proofs);
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
  auto proposals = open_out(dir / "proposals.jsonl");
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
      proposals << nlohmann::json{{"prompt", records_proposal_prompt(t.files)},
                                  {"response", records_worked_proposal(t)}}.dump()
                << "\n";
      ++written;
      turns += static_cast<int64_t>(steps.size());
    }
  }
  fmt::print("wrote {} tasks, {} cold-start turns and {} proposals to {}\n", written, turns, written, dir.string());
  return 0;
}

// `count` claims, their operator counts taking each value from min to max operations in turn.
std::vector<DerivationClaim> proof_claims(const ProofDataConfig& p, int64_t count, uint64_t seed) {
  const int kinds = p.max_operations - p.min_operations + 1;
  std::vector<std::vector<DerivationClaim>> by_ops;
  for (int k = 0; k < kinds; ++k)
    by_ops.push_back(make_derivation_claims((count + kinds - 1) / kinds, p.min_operations + k, seed));
  std::vector<DerivationClaim> claims;
  for (int64_t i = 0; i < count; ++i) claims.push_back(by_ops[i % kinds][i / kinds]);
  return claims;
}

int operators_in(const std::string& expression) {
  return static_cast<int>(std::count_if(expression.begin(), expression.end(),
                                        [](char ch) { return ch == '+' || ch == '-' || ch == '*'; }));
}

ProofFlaw random_flaw(std::mt19937_64& rng, double flawed_share) {
  if (std::uniform_real_distribution<double>(0, 1)(rng) >= flawed_share) return ProofFlaw::none;
  return std::uniform_int_distribution<int>(0, 1)(rng) ? ProofFlaw::wrong_step : ProofFlaw::skipped_step;
}

void write_line(std::ofstream& out, const nlohmann::json& j) { out << j.dump() << "\n"; }

int write_proofs(const AgentDataConfig& c) {
  const std::filesystem::path dir = output_dir(c);
  std::mt19937_64 rng(c.seed);
  auto generator = open_out(dir / "generator.jsonl");
  auto verifier = open_out(dir / "verifier.jsonl");
  for (const DerivationClaim& claim : proof_claims(c.proofs, c.count, c.seed)) {
    const std::string problem = claim.text();
    write_line(generator, {{"prompt", fill_role_prompt(kDerivationGeneratorPrompt, problem)}, {"answer", problem},
                           {"problem", problem}, {"operations", operators_in(claim.expression)}});
    const auto flaw = static_cast<ProofFlaw>(std::uniform_int_distribution<int>(0, 2)(rng));
    const std::string proof = derivation_proof(claim, flaw, rng);
    const ProofGrade grade = grade_derivation(claim, proof);
    write_line(verifier, {{"prompt", fill_role_prompt(kDerivationVerifierPrompt, problem, proof)},
                          {"answer", fmt::format("{}", grade.score)}, {"problem", problem}, {"proof", proof},
                          {"flaw", flaw_name(flaw)}, {"issue", grade.issue}});
  }
  // The cold start: other claims (another seed), three replies each.
  auto cold = open_out(dir / "cold_start.jsonl");
  for (const DerivationClaim& claim : proof_claims(c.proofs, c.count, c.seed + 7919)) {
    const std::string problem = claim.text();
    const std::string own = derivation_proof(claim, random_flaw(rng, c.proofs.flawed_share), rng);
    write_line(cold, {{"prompt", fill_role_prompt(kDerivationGeneratorPrompt, problem)},
                      {"response", own + "\n" + derivation_analysis(grade_derivation(claim, own))}});
    const std::string other = derivation_proof(claim, static_cast<ProofFlaw>(rng() % 3), rng);
    write_line(cold, {{"prompt", fill_role_prompt(kDerivationVerifierPrompt, problem, other)},
                      {"response", derivation_analysis(grade_derivation(claim, other))}});
    const ProofFlaw planted = rng() % 2 ? ProofFlaw::wrong_step : ProofFlaw::skipped_step;
    const std::string flawed = derivation_proof(claim, planted, rng);
    const std::string rigorous = derivation_proof(claim, ProofFlaw::none, rng);
    write_line(cold, {{"prompt", fill_role_prompt(kDerivationRevisionPrompt, problem, flawed,
                                                  derivation_analysis(grade_derivation(claim, flawed)))},
                      {"response", rigorous + "\n" + derivation_analysis(grade_derivation(claim, rigorous))}});
  }
  fmt::print("wrote {} generator tasks, {} verifier tasks and {} cold-start replies to {}\n", c.count, c.count,
             3 * c.count, dir.string());
  return 0;
}

}  // namespace
}  // namespace dsrl

int main(int argc, char** argv) {
  return dsrl::run_main<dsrl::AgentDataConfig>(
      argc, argv,
      "dsrl-agent-data: writes a built-in agent task (multihop: corpus, questions, cold-start turns; compute, code "
      "and records: questions, cold-start turns; proofs: generator and verifier tasks, cold-start replies)",
      [](const dsrl::AgentDataConfig& c, const dsrl::CommandLine&) {
        if (c.task == "compute") return dsrl::write_compute(c);
        if (c.task == "records") return dsrl::write_records(c);
        if (c.task == "proofs") return dsrl::write_proofs(c);
        return c.task == "code" ? dsrl::write_code(c) : dsrl::write_multihop(c);
      });
}
