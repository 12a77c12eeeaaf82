#include "agent/tools.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace dsrl {

std::string tool_schema(const std::string& name, const std::string& description,
                        const std::vector<ToolParameter>& parameters) {
  nlohmann::json properties = nlohmann::json::object(), required = nlohmann::json::array();
  for (const ToolParameter& p : parameters) {
    properties[p.name] = {{"type", p.type}, {"description", p.description}};
    if (p.required) required.push_back(p.name);
  }
  return nlohmann::json{{"name", name},
                        {"description", description},
                        {"parameters", {{"type", "object"}, {"properties", properties}, {"required", required}}}}
      .dump();
}

namespace {

class BorrowedTool : public Tool {
 public:
  explicit BorrowedTool(Tool& tool) : tool_(tool) {}
  std::string name() const override { return tool_.name(); }
  std::string schema_json() const override { return tool_.schema_json(); }
  ToolResult call(const std::string& arguments_json) override { return tool_.call(arguments_json); }

 private:
  Tool& tool_;
};

}  // namespace

std::unique_ptr<Tool> borrow_tool(Tool& tool) { return std::make_unique<BorrowedTool>(tool); }

void ToolRegistry::add(std::unique_ptr<Tool> tool) {
  const std::string name = tool->name();
  DSRL_CHECK(!tools_.count(name), "tool '{}' registered twice", name);
  order_.push_back(name);
  tools_[name] = std::move(tool);
}

std::vector<std::string> ToolRegistry::schemas() const {
  std::vector<std::string> out;
  for (const auto& name : order_) out.push_back(tools_.at(name)->schema_json());
  return out;
}

ToolResult ToolRegistry::call(const std::string& name, const std::string& arguments_json) const {
  auto it = tools_.find(name);
  if (it == tools_.end()) {
    std::string known;
    for (const auto& n : order_) known += (known.empty() ? "" : ", ") + n;
    return {fmt::format("error: no tool named '{}' (tools: {})", name, known), false};
  }
  const nlohmann::json args = nlohmann::json::parse(arguments_json, nullptr, /*allow_exceptions=*/false);
  if (!args.is_object())
    return {fmt::format("error: the arguments of {} must be a JSON object, got: {}", name, arguments_json), false};
  try {
    return it->second->call(args.dump());
  } catch (const std::exception& e) {
    return {fmt::format("error: {} failed: {}", name, e.what()), false};
  }
}

}  // namespace dsrl
