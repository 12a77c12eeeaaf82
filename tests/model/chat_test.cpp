// DeepSeek-V3.2 chat rendering and parsing: exact strings, as the reference encoder (encoding_dsv32.py) writes.
#include "model/chat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "common/error.h"
#include "model/chat_json.h"
#include "model/tokenizer.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

using testing::error_of;

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";
const std::string kCallsOpen = "\n\n<｜DSML｜function_calls>\n";
const std::string kCallsClose = "\n</｜DSML｜function_calls>";

ChatMessage msg(std::string role, std::string content, std::string reasoning = "", std::vector<ToolCall> calls = {}) {
  return {std::move(role), std::move(content), std::move(reasoning), std::move(calls)};
}

ChatOptions chat_mode() {
  ChatOptions o;
  o.thinking = false;
  return o;
}

const ToolCall kWeather{"get_weather", R"({"city": "Paris", "days": 3})"};
const std::string kWeatherDsml =
    "<｜DSML｜invoke name=\"get_weather\">\n"
    "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n"
    "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>";

TEST(RenderChat, SingleTurnThinkingAndChatMode) {
  const std::vector<ChatMessage> m = {msg("system", "You are helpful."), msg("user", "Hi")};
  EXPECT_EQ(render_chat(m, {}), kBos + "You are helpful.<｜User｜>Hi<｜Assistant｜><think>");
  EXPECT_EQ(render_chat(m, chat_mode()), kBos + "You are helpful.<｜User｜>Hi<｜Assistant｜></think>");
  ChatOptions no_bos;
  no_bos.add_bos = false;
  EXPECT_EQ(render_chat({msg("user", "Hi")}, no_bos), "<｜User｜>Hi<｜Assistant｜><think>");
}

TEST(RenderChat, EarlierReasoningIsDroppedWhenANewUserMessageArrives) {
  std::vector<ChatMessage> m = {msg("user", "1+1?"), msg("assistant", "2", "add them")};
  // The last turn follows the last user message: its reasoning stays.
  EXPECT_EQ(render_chat(m, {}), kBos + "<｜User｜>1+1?<｜Assistant｜><think>add them</think>2" + kEos);
  m.push_back(msg("user", "2+2?"));
  const std::string prompt = kBos + "<｜User｜>1+1?<｜Assistant｜></think>2" + kEos + "<｜User｜>2+2?<｜Assistant｜><think>";
  EXPECT_EQ(render_chat(m, {}), prompt);
  m.push_back(msg("assistant", "4", "add again"));
  EXPECT_EQ(render_chat(m, {}), prompt + "add again</think>4" + kEos);
  // Chat mode never shows reasoning.
  EXPECT_EQ(render_chat(m, chat_mode()), kBos + "<｜User｜>1+1?<｜Assistant｜></think>2" + kEos +
                                             "<｜User｜>2+2?<｜Assistant｜></think>4" + kEos);
}

TEST(RenderChat, ToolRoundsKeepReasoningUntilTheNextUserMessage) {
  std::vector<ChatMessage> m = {msg("user", "Weather in Paris?"), msg("assistant", "", "need a tool", {kWeather}),
                                msg("tool", R"({"temp": 20})")};
  const std::string call_turn = kCallsOpen + kWeatherDsml + kCallsClose + kEos;
  const std::string results = "\n\n<function_results>\n<result>{\"temp\": 20}</result>\n</function_results>\n\n";
  const std::string prompt =
      kBos + "<｜User｜>Weather in Paris?<｜Assistant｜><think>need a tool</think>" + call_turn + results + "<think>";
  EXPECT_EQ(render_chat(m, {}), prompt);
  m.push_back(msg("assistant", "It is 20C.", "got it"));
  EXPECT_EQ(render_chat(m, {}), prompt + "got it</think>It is 20C." + kEos);
  // A new user message drops both reasonings; the tool call and its result stay.
  m.push_back(msg("user", "Thanks"));
  EXPECT_EQ(render_chat(m, {}), kBos + "<｜User｜>Weather in Paris?<｜Assistant｜></think>" + call_turn + results +
                                    "</think>It is 20C." + kEos + "<｜User｜>Thanks<｜Assistant｜><think>");
}

TEST(RenderChat, SeveralToolCallsAndResultsInOrder) {
  const ToolCall time{"now", "{}"};
  const std::vector<ChatMessage> m = {msg("user", "q"), msg("assistant", "checking", "r", {kWeather, time}),
                                      msg("tool", "A"), msg("tool", "B")};
  EXPECT_EQ(render_chat(m, chat_mode()),
            kBos + "<｜User｜>q<｜Assistant｜></think>checking" + kCallsOpen + kWeatherDsml +
                "\n<｜DSML｜invoke name=\"now\">\n\n</｜DSML｜invoke>" + kCallsClose + kEos +
                "\n\n<function_results>\n<result>A</result>\n<result>B</result>\n</function_results>\n\n</think>");
}

TEST(RenderChat, ToolDefinitionsGoIntoTheSystemPrompt) {
  ChatOptions o;
  o.tools = {R"({"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})"};
  const std::string schema = R"({"name": "get_weather", "description": "Weather.", "parameters": {"type": )"
                             R"("object", "properties": {"city": {"type": "string"}}}})";
  const std::string with_system = render_chat({msg("system", "S"), msg("user", "hi")}, o);
  EXPECT_EQ(with_system.rfind(kBos + "S\n\n## Tools\n\nTools are available.", 0), 0u) << with_system;
  const std::string tail = "<functions>\n" + schema + "\n</functions>\n<｜User｜>hi<｜Assistant｜><think>";
  ASSERT_GE(with_system.size(), tail.size());
  EXPECT_EQ(with_system.substr(with_system.size() - tail.size()), tail);
  EXPECT_NE(with_system.find("<｜DSML｜invoke name=\"TOOL_NAME\">"), std::string::npos);
  // Without a system message, an empty one carries them.
  const std::string without = render_chat({msg("user", "hi")}, o);
  EXPECT_EQ(without, kBos + with_system.substr(kBos.size() + 1));
  // A model trained on another wording gets exactly that text, with the markers and schemas substituted.
  o.tools_preamble = "TOOLS {dsml}|{schemas}";
  EXPECT_EQ(render_chat({msg("system", "S"), msg("user", "hi")}, o),
            kBos + "S\n\nTOOLS ｜DSML｜|" + schema + "<｜User｜>hi<｜Assistant｜><think>");
}

TEST(RenderChat, BadConversationsAreRefusedNamingTheMessage) {
  EXPECT_NE(error_of([] { render_chat({msg("user", "a"), msg("tool", "x")}, {}); })
                .find("messages[1] is a tool result, but no assistant message with tool calls comes before it"),
            std::string::npos);
  EXPECT_NE(error_of([] { render_chat({msg("user", "a"), msg("assistant", "", "", {kWeather})}, {}); })
                .find("messages[1] made 1 tool call(s) but 0 tool result(s) follow it"),
            std::string::npos);
  EXPECT_NE(error_of([] { render_chat({msg("robot", "a")}, {}); })
                .find("messages[0].role must be system, user, assistant or tool, got \"robot\""),
            std::string::npos);
  const ToolCall bad{"f", "[1, 2]"};
  EXPECT_NE(error_of([&] { render_chat({msg("assistant", "", "", {bad}), msg("tool", "x")}, {}); })
                .find("messages[0].tool_calls[0] (f) arguments_json must be a JSON object, got [1, 2]"),
            std::string::npos);
}

TEST(ParseAssistant, ReasoningContentAndStop) {
  ParsedAssistant p = parse_assistant("let me think</think>The answer is 4." + kEos);
  EXPECT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.reasoning, "let me think");
  EXPECT_EQ(p.content, "The answer is 4.");
  EXPECT_TRUE(p.stopped);
  p = parse_assistant("plain answer", /*thinking=*/false);  // the engine stripped the stop token
  EXPECT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.content, "plain answer");
  EXPECT_FALSE(p.stopped);
}

TEST(ParseAssistant, RoundTripsWhatRenderChatWrites) {
  const std::vector<ChatMessage> history = {msg("user", "Weather?")};
  const ToolCall nested{"search", R"({"q": "café \"x\"\n", "filters": {"a": [1, 2.5, null], "b": true}, "n": -3})"};
  const ChatMessage turn = msg("assistant", "Let me look.", "need data", {kWeather, nested, {"now", "{}"}});
  const std::string prompt = render_chat(history, {});
  const std::string full = render_chat({history[0], turn, msg("tool", "1"), msg("tool", "2"), msg("tool", "3")}, {});
  ASSERT_EQ(full.rfind(prompt, 0), 0u);  // the prompt is a prefix; what follows is the assistant turn
  const std::string generated = full.substr(prompt.size(), full.find("\n\n<function_results>") - prompt.size());
  const ParsedAssistant p = parse_assistant(generated);
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.reasoning, "need data");
  EXPECT_EQ(p.content, "Let me look.");
  EXPECT_TRUE(p.stopped);
  ASSERT_EQ(p.tool_calls.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p.tool_calls[i].name, turn.tool_calls[i].name);
    EXPECT_EQ(p.tool_calls[i].arguments_json, turn.tool_calls[i].arguments_json);
  }
}

TEST(ParseAssistant, MalformedOutputGivesAnErrorNotACrash) {
  const std::string open = "r</think>" + kCallsOpen + "<｜DSML｜invoke name=\"f\">\n";
  ParsedAssistant p = parse_assistant(
      open + "<｜DSML｜parameter name=\"x\" string=\"false\">{not json</｜DSML｜parameter>\n</｜DSML｜invoke>" +
      kCallsClose + kEos);
  EXPECT_FALSE(p.ok());
  EXPECT_NE(p.error.find("tool call f: parameter \"x\" has string=\"false\" but its value is not JSON"),
            std::string::npos) << p.error;
  EXPECT_TRUE(p.tool_calls.empty());
  EXPECT_EQ(p.reasoning, "r");

  p = parse_assistant(open + "<｜DSML｜parameter name=\"x\" string=\"true\">cut off");
  EXPECT_NE(p.error.find("missing \"</｜DSML｜parameter>\""), std::string::npos) << p.error;

  p = parse_assistant("still thinking...");
  EXPECT_NE(p.error.find("not closed by </think>"), std::string::npos) << p.error;
  EXPECT_EQ(p.reasoning, "still thinking...");

  p = parse_assistant("r</think>done" + kEos + "more");
  EXPECT_NE(p.error.find("text after <｜end▁of▁sentence｜>"), std::string::npos) << p.error;

  p = parse_assistant("r</think>a <think> b" + kEos);
  EXPECT_NE(p.error.find("unexpected <think> inside the content"), std::string::npos) << p.error;

  for (size_t cut = 0; cut < open.size() + 20; ++cut) {  // every truncation parses without throwing
    EXPECT_NO_THROW(parse_assistant((open + "<｜DSML｜parameter name=\"x\" string=\"true\">v").substr(0, cut)));
  }
}

TEST(ChatTokens, ByteTokenizerKeepsEveryMarkerAsOneToken) {
  const auto tok = make_byte_tokenizer();
  const std::string prompt = render_chat({msg("user", "hi"), msg("assistant", "", "r", {{"f", "{}"}}),
                                          msg("tool", "ok")}, {});
  const std::vector<int32_t> ids = tok->encode(prompt);
  EXPECT_EQ(tok->decode(ids), prompt);
  EXPECT_EQ(ids.front(), *tok->token_id("<｜begin▁of▁sentence｜>"));
  EXPECT_EQ(ids.back(), *tok->token_id("<think>"));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *tok->token_id("｜DSML｜")), 4);  // (/)function_calls, (/)invoke
}

TEST(PythonJson, MatchesJsonDumpsEnsureAsciiFalse) {
  using nlohmann::ordered_json;
  EXPECT_EQ(python_json(ordered_json::parse(R"({"b": 1, "a": [true, null, "x\ty\u0001é"], "c": {}})")),
            R"({"b": 1, "a": [true, null, "x\ty\u0001é"], "c": {}})");
  EXPECT_EQ(python_json(ordered_json(100.0)), "100.0");
  EXPECT_EQ(python_json(ordered_json(0.1)), "0.1");
  EXPECT_EQ(python_json(ordered_json(1e16)), "1e+16");
  EXPECT_EQ(python_json(ordered_json(1e15)), "1000000000000000.0");
  EXPECT_EQ(python_json(ordered_json(0.0001)), "0.0001");
  EXPECT_EQ(python_json(ordered_json(1e-05)), "1e-05");
  EXPECT_EQ(python_json(ordered_json(-2.5e-300)), "-2.5e-300");
  EXPECT_EQ(python_json(ordered_json(123.456)), "123.456");
}

}  // namespace
}  // namespace dsrl
