// The agent's tools: the calculator's grammar and errors, and a registry that answers every mistake the model can
// make with an error result instead of throwing.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "agent/calculator.h"
#include "agent/tools.h"
#include "common/error.h"

namespace dsrl {
namespace {

TEST(Calculator, PrecedenceAssociativityAndUnaryMinus) {
  EXPECT_EQ(evaluate_arithmetic("1 + 2 * 3"), 7);
  EXPECT_EQ(evaluate_arithmetic("(1 + 2) * 3"), 9);
  EXPECT_EQ(evaluate_arithmetic("10 - 4 - 3"), 3) << "left-associative";
  EXPECT_EQ(evaluate_arithmetic("2 ^ 3 ^ 2"), 512) << "right-associative";
  EXPECT_EQ(evaluate_arithmetic("-2^2"), -4);
  EXPECT_EQ(evaluate_arithmetic("2^-1"), 0.5);
  EXPECT_EQ(evaluate_arithmetic("--3"), 3);
  EXPECT_EQ(evaluate_arithmetic("17 % 5"), 2);
  EXPECT_EQ(evaluate_arithmetic("1.5e3 / 3"), 500);
  EXPECT_DOUBLE_EQ(evaluate_arithmetic(" 0.1 + 0.2 "), 0.1 + 0.2);
}

TEST(Calculator, ErrorsNameTheColumn) {
  auto message = [](const std::string& e) {
    try {
      evaluate_arithmetic(e);
    } catch (const Error& err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("1 / 0"), "at column 6: division by zero");
  EXPECT_EQ(message("2 * (3 + 4"), "at column 11: expected ')'");
  EXPECT_EQ(message("2 +"), "at column 4: expected a number, got the end");
  EXPECT_EQ(message("2 $ 3"), "at column 3: unexpected '$'");
  EXPECT_EQ(message("1.2.3"), "at column 1: '1.2.3' is not a number");
  EXPECT_EQ(message("10 ^ 400"), "at column 9: the result is not a finite number");
  EXPECT_NE(message(std::string(300, '(') + "1" + std::string(300, ')')).find("nested too deeply"),
            std::string::npos);
}

TEST(Calculator, FormatsIntegersWithoutAFraction) {
  EXPECT_EQ(format_number(42), "42");
  EXPECT_EQ(format_number(-7), "-7");
  EXPECT_EQ(format_number(0.5), "0.5");
  EXPECT_EQ(format_number(1.0 / 3), "0.333333333333");
  EXPECT_EQ(format_number(1e20), "1e+20");
}

TEST(ToolRegistry, EveryMistakeIsAnErrorResultTheModelReads) {
  ToolRegistry tools;
  tools.add(std::make_unique<CalculatorTool>());
  EXPECT_THROW(tools.add(std::make_unique<CalculatorTool>()), Error);

  ToolResult ok = tools.call("calculator", R"({"expression": "(3 + 4.5) * 2^3"})");
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.text, "60");

  ToolResult unknown = tools.call("weather", "{}");
  EXPECT_FALSE(unknown.ok);
  EXPECT_EQ(unknown.text, "error: no tool named 'weather' (tools: calculator)");
  ToolResult not_object = tools.call("calculator", "[1, 2]");
  EXPECT_FALSE(not_object.ok);
  EXPECT_NE(not_object.text.find("must be a JSON object"), std::string::npos);
  EXPECT_FALSE(tools.call("calculator", "{\"expression\": ").ok) << "truncated JSON";
  ToolResult missing = tools.call("calculator", R"({"expr": "1+1"})");
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.text.find("\"expression\""), std::string::npos);
  ToolResult bad = tools.call("calculator", R"({"expression": "1/0"})");
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.text, "error: cannot evaluate '1/0': at column 4: division by zero");
}

TEST(ToolRegistry, SchemasAreWhatTheChatPromptTakes) {
  ToolRegistry tools;
  tools.add(std::make_unique<CalculatorTool>());
  ASSERT_EQ(tools.schemas().size(), 1u);
  const nlohmann::json schema = nlohmann::json::parse(tools.schemas()[0]);
  EXPECT_EQ(schema["name"], "calculator");
  EXPECT_EQ(schema["parameters"]["type"], "object");
  EXPECT_EQ(schema["parameters"]["required"], nlohmann::json::array({"expression"}));
}

}  // namespace
}  // namespace dsrl
