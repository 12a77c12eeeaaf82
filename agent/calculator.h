// The `calculator` tool: evaluates an arithmetic expression in double precision.
//   sum := product (('+' | '-') product)*;   product := unary (('*' | '/' | '%') unary)*
//   unary := ('-' | '+') unary | power;      power := atom ('^' unary)?;   atom := number | '(' sum ')'
// '^' is right-associative and binds tighter than a minus on its left (-2^2 = -4), as in mathematics.
// Division by zero, a non-finite result, or a malformed expression is an error naming the position.
#pragma once

#include <string>

#include "agent/tools.h"

namespace dsrl {

// The value of `expression`; throws dsrl::Error ("at column N: ...") when it cannot be evaluated.
double evaluate_arithmetic(const std::string& expression);

// The result as the tool prints it: integers without a fraction, others with up to 12 significant digits.
std::string format_number(double value);

class CalculatorTool : public Tool {
 public:
  std::string name() const override { return "calculator"; }
  std::string schema_json() const override;
  ToolResult call(const std::string& arguments_json) override;  // {"expression": "..."}
};

}  // namespace dsrl
