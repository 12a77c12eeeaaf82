// Tools the policy can call in agentic rollouts (issue 8), torch-free. A tool has a name, a JSON schema the chat
// prompt shows the model (model/chat.h, ChatOptions::tools), and a call that takes the model's JSON arguments and
// returns text for the model to read. A call never throws for anything the model wrote: bad JSON, a missing or
// mistyped argument or a failing computation comes back as an error result the model sees, so it can try again.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dsrl {

struct ToolResult {
  std::string text;   // what the model reads in the tool message
  bool ok = true;     // false: `text` is an error message (bad arguments, unknown tool, failed run)
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual std::string name() const = 0;
  // {"name", "description", "parameters": JSON schema of the arguments object}, as ChatOptions::tools takes it.
  virtual std::string schema_json() const = 0;
  // arguments: the parsed arguments object, as JSON text (already checked to be an object).
  virtual ToolResult call(const std::string& arguments_json) = 0;
};

struct ToolParameter {
  std::string name;
  std::string type;         // JSON schema type: string, integer, number, boolean, ...
  std::string description;
  bool required = true;
};

// A tool's schema as JSON text: {"name", "description", "parameters": {"type": "object", "properties", "required"}}.
std::string tool_schema(const std::string& name, const std::string& description,
                        const std::vector<ToolParameter>& parameters);

// A tool that forwards to `tool`, owned elsewhere and outliving it: one tool shared by per-trajectory registries
// (its calls must then be safe from several threads, as a shared registry's already are).
std::unique_ptr<Tool> borrow_tool(Tool& tool);

class ToolRegistry {
 public:
  // Throws dsrl::Error on a second tool with the same name.
  void add(std::unique_ptr<Tool> tool);
  // The schemas in registration order (for ChatOptions::tools).
  std::vector<std::string> schemas() const;
  // Runs `name` with `arguments_json`. An unknown tool or arguments that are not a JSON object give an error
  // result naming what was wrong; so does an exception escaping the tool.
  ToolResult call(const std::string& name, const std::string& arguments_json) const;
  bool has(const std::string& name) const { return tools_.count(name) > 0; }

 private:
  std::map<std::string, std::unique_ptr<Tool>> tools_;
  std::vector<std::string> order_;
};

}  // namespace dsrl
