#include "agent/calculator.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/error.h"

namespace dsrl {
namespace {

// Recursive descent over the grammar in calculator.h; `at` is the next character.
class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  double parse() {
    const double value = sum();
    skip_spaces();
    if (at_ < text_.size()) fail(fmt::format("unexpected '{}'", text_[at_]));
    return value;
  }

 private:
  // The message is for the model to read: the column, not our source location.
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("at column {}: {}", at_ + 1, what));
  }

  void skip_spaces() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  bool take(char c) {
    skip_spaces();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  double checked(double v) const {
    if (!std::isfinite(v)) fail("the result is not a finite number");
    return v;
  }

  double sum() {
    double v = product();
    for (;;) {
      if (take('+')) v = checked(v + product());
      else if (take('-')) v = checked(v - product());
      else return v;
    }
  }
  double product() {
    double v = unary();
    for (;;) {
      if (take('*')) {
        v = checked(v * unary());
      } else if (take('/') || take('%')) {
        const bool mod = text_[at_ - 1] == '%';
        const double d = unary();
        if (d == 0) fail("division by zero");
        v = checked(mod ? std::fmod(v, d) : v / d);
      } else {
        return v;
      }
    }
  }
  double unary() {
    if (take('-')) return -unary();
    if (take('+')) return unary();
    return power();
  }
  double power() {
    const double base = atom();
    if (!take('^')) return base;
    return checked(std::pow(base, unary()));
  }
  double atom() {
    if (++depth_ > 200) fail("parentheses nested too deeply");
    double v;
    if (take('(')) {
      v = sum();
      if (!take(')')) fail("expected ')'");
    } else {
      v = number();
    }
    --depth_;
    return v;
  }
  double number() {
    skip_spaces();
    const size_t start = at_;
    while (at_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[at_])) || text_[at_] == '.')) ++at_;
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E') && at_ > start) {
      size_t e = at_ + 1;
      if (e < text_.size() && (text_[e] == '+' || text_[e] == '-')) ++e;
      if (e < text_.size() && std::isdigit(static_cast<unsigned char>(text_[e]))) {
        at_ = e;
        while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
      }
    }
    const std::string digits = text_.substr(start, at_ - start);
    if (digits.empty()) {
      at_ = start;
      fail(at_ < text_.size() ? fmt::format("expected a number, got '{}'", text_[at_])
                              : std::string("expected a number, got the end"));
    }
    char* end = nullptr;
    const double v = std::strtod(digits.c_str(), &end);
    if (end != digits.c_str() + digits.size()) {
      at_ = start;
      fail(fmt::format("'{}' is not a number", digits));
    }
    return checked(v);
  }

  const std::string& text_;
  size_t at_ = 0;
  int depth_ = 0;
};

}  // namespace

double evaluate_arithmetic(const std::string& expression) { return Parser(expression).parse(); }

std::string format_number(double value) {
  if (std::fabs(value) < 1e15 && value == std::floor(value)) return fmt::format("{}", static_cast<long long>(value));
  return fmt::format("{:.12g}", value);
}

std::string CalculatorTool::schema_json() const {
  return tool_schema("calculator", "Evaluates an arithmetic expression: + - * / % ^ and parentheses over decimal numbers.",
                     {{"expression", "string", "for example (3 + 4.5) * 2^3"}});
}

ToolResult CalculatorTool::call(const std::string& arguments_json) {
  const nlohmann::json args = nlohmann::json::parse(arguments_json);
  if (!args.contains("expression") || !args["expression"].is_string())
    return {"error: calculator needs a string argument \"expression\"", false};
  const std::string expression = args["expression"].get<std::string>();
  try {
    return {format_number(evaluate_arithmetic(expression)), true};
  } catch (const Error& e) {
    return {fmt::format("error: cannot evaluate '{}': {}", expression, e.what()), false};
  }
}

}  // namespace dsrl
