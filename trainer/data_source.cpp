#include "trainer/data_source.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace dsrl {

namespace {

std::ifstream open_or_throw(const std::string& path, const char* kind) {
  std::ifstream in(path, std::ios::binary);
  DSRL_CHECK(in.good(), "cannot open {} file '{}': {} (check data.sources[].path)", kind, path, std::strerror(errno));
  return in;
}

bool blank(const std::string& line) {
  return line.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

// The string `field` of `object`, or an error naming file, line and field.
std::string string_field(const nlohmann::json& object, const std::string& field, const std::string& where) {
  auto it = object.find(field);
  DSRL_CHECK(it != object.end(), "{}: missing string field \"{}\"", where, field);
  DSRL_CHECK(it->is_string(), "{}: field \"{}\" must be a string, got {}", where, field, it->type_name());
  return it->get<std::string>();
}

}  // namespace

ChatOptions data_chat_options() {
  ChatOptions options;
  options.thinking = false;
  options.add_bos = true;
  return options;
}

Document chat_document(const std::string& user, const std::string& answer) {
  // render_chat(history + {assistant}) == render_chat(history) + answer...<eos> (model/chat.h), so the prompt is
  // exactly the text of the open assistant turn and the response what the model should generate there.
  const ChatOptions options = data_chat_options();
  std::vector<ChatMessage> messages = {{"user", user, "", {}}};
  const std::string prompt = render_chat(messages, options);
  messages.push_back({"assistant", answer, "", {}});
  const std::string full = render_chat(messages, options);
  DSRL_CHECK(full.compare(0, prompt.size(), prompt) == 0,
             "chat rendering: the conversation with the answer must start with the prompt, got '{}' vs '{}'", full,
             prompt);
  return {prompt, full.substr(prompt.size())};
}

std::vector<Document> read_text_documents(const std::string& path) {
  std::ifstream in = open_or_throw(path, "text");
  std::vector<Document> docs;
  std::string line, current;
  bool open = false;  // a document has started
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
    if (blank(line)) {
      if (open) docs.push_back({"", current});
      current.clear();
      open = false;
      continue;
    }
    if (open) current += '\n';
    current += line;
    open = true;
  }
  DSRL_CHECK(!in.bad(), "error reading text file '{}': {}", path, std::strerror(errno));
  if (open) docs.push_back({"", current});
  return docs;
}

std::vector<Document> read_jsonl_documents(const DataSourceConfig& source) {
  const bool pairs = !source.prompt_field.empty();
  std::vector<Document> docs;
  read_jsonl_objects(source.path, [&](const nlohmann::json& object, const std::string& where) {
    if (!pairs) {
      docs.push_back({"", string_field(object, source.text_field, where)});
      return;
    }
    std::string prompt = string_field(object, source.prompt_field, where);
    std::string response = string_field(object, source.response_field, where);
    docs.push_back(source.chat ? chat_document(prompt, response) : Document{prompt, response});
  });
  return docs;
}

std::vector<Document> read_documents(const DataSourceConfig& source) {
  if (source.format == "text") {
    DSRL_CHECK(source.prompt_field.empty(), "data source '{}': prompt_field needs format jsonl, got text", source.path);
    return read_text_documents(source.path);
  }
  DSRL_CHECK_EQ(source.format, std::string("jsonl"), "data source '" + source.path + "' format (text or jsonl)");
  return read_jsonl_documents(source);
}

}  // namespace dsrl
