// dsrl-agent-data: writes the built-in multi-hop search task as files the GRPO stage and the lm stage read:
//   dsrl-agent-data --set out=data/multihop --set multihop.people=500
//   -> data/multihop/corpus.jsonl      {id, title, text}: the encyclopedia (grpo.agent.corpus)
//      data/multihop/questions.jsonl   {prompt, answer, person, town}: one task per line (grpo.tasks[].path)
//      data/multihop/cold_start.jsonl  {prompt, response}: each turn of a worked trajectory (search the person,
//                                      search the town, answer), rendered with the search and open tools as the
//                                      agent loop renders them, for stage lm with chat: false
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "agent/bm25.h"
#include "agent/multihop.h"
#include "common/cli.h"
#include "model/chat.h"

namespace dsrl {

struct AgentDataConfig {
  std::string out = "data/multihop";  // folder for the three files (created)
  MultihopConfig multihop;
  bool thinking = false;              // render the cold-start turns in thinking mode (as grpo.agent.thinking)
  int64_t search_results = 3;         // hits per search in the cold-start trajectories (as grpo.agent.search_results)
  LogConfig log;
};

void describe(ConfigIO& io, MultihopConfig& c) {
  io.field("people", c.people, int64_t{1}, int64_t{100000});
  io.field("towns", c.towns, int64_t{2}, int64_t{100000});
  io.field("provinces", c.provinces, int64_t{2}, int64_t{10000});
  io.field("seed", c.seed);
}

void describe(ConfigIO& io, AgentDataConfig& c) {
  io.field("out", c.out);
  io.section("multihop", c.multihop);
  io.field("thinking", c.thinking);
  io.field("search_results", c.search_results, int64_t{1}, int64_t{100});
  io.section("log", c.log);
}

namespace {

std::ofstream open_out(const std::filesystem::path& path) {
  std::ofstream out(path);
  DSRL_CHECK(out.good(), "cannot write {}", path.string());
  return out;
}

// The worked trajectory for one question, one {prompt, response} line per assistant turn.
void write_cold_start(std::ofstream& out, const MultihopQuestion& q, const ToolRegistry& tools, bool thinking) {
  ChatOptions chat;
  chat.thinking = thinking;
  chat.tools = tools.schemas();
  std::vector<ChatMessage> history = {{"user", q.question, "", {}}};
  const std::vector<ChatMessage> turns = {
      {"assistant", "", "First find where " + q.person + " was born.",
       {{"search", nlohmann::json{{"query", q.person}}.dump()}}},
      {"assistant", "", q.person + " was born in " + q.town + ". Now find the province of " + q.town + ".",
       {{"search", nlohmann::json{{"query", q.town}}.dump()}}},
      {"assistant", "Answer: " + q.answer, q.town + " lies in " + q.answer + ".", {}}};
  for (const ChatMessage& turn : turns) {
    const std::string prompt = render_chat(history, chat);
    history.push_back(turn);
    for (const ToolCall& call : turn.tool_calls)
      history.push_back({"tool", tools.call(call.name, call.arguments_json).text, "", {}});
    const std::string with_turn = render_chat_from(history, history.size() - 1 - turn.tool_calls.size(), chat);
    const std::string results =
        turn.tool_calls.empty() ? "" : render_chat_from(history, history.size() - turn.tool_calls.size(), chat);
    out << nlohmann::json{{"prompt", prompt}, {"response", with_turn.substr(0, with_turn.size() - results.size())}}
               .dump()
        << "\n";
  }
}

int write_multihop(const AgentDataConfig& c) {
  const MultihopWorld world = make_multihop(c.multihop);
  const std::filesystem::path dir(c.out);
  std::filesystem::create_directories(dir);
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
  for (const auto& q : world.questions) write_cold_start(cold, q, tools, c.thinking);
  fmt::print("wrote {} documents, {} questions and {} cold-start turns to {}\n", world.corpus.size(),
             world.questions.size(), 3 * world.questions.size(), dir.string());
  return 0;
}

}  // namespace
}  // namespace dsrl

int main(int argc, char** argv) {
  return dsrl::run_main<dsrl::AgentDataConfig>(
      argc, argv, "dsrl-agent-data: writes the built-in multi-hop search task (corpus, questions, cold-start turns)",
      [](const dsrl::AgentDataConfig& c, const dsrl::CommandLine&) { return dsrl::write_multihop(c); });
}
