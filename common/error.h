// dsrl::Error and DSRL_CHECK: every failed check says what was checked, expected vs got, and where.
//   DSRL_CHECK(k >= 1 && k <= 64, "moe.num_experts_per_tok must be in [1, 64], got {}", k);
//   -> "moe.num_experts_per_tok must be in [1, 64], got 300 (check `k >= 1 && k <= 64` at model/config.cpp:42)"
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace dsrl {

// The one exception type of the project. Services turn it into a Status at the RPC boundary.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
[[noreturn]] void check_failed(const char* file, int line, const char* condition, const std::string& message);
[[noreturn]] void check_eq_failed(const char* file, int line, const char* lhs_text, const char* rhs_text,
                                  const std::string& lhs, const std::string& rhs, const std::string& message);
template <class... Args>
std::string message(fmt::format_string<Args...> format, Args&&... args) {
  return fmt::format(format, std::forward<Args>(args)...);
}
inline std::string message() { return {}; }
}  // namespace detail

}  // namespace dsrl

// DSRL_CHECK(cond, "format {}", args...): throws dsrl::Error with the message, the condition and file:line.
#define DSRL_CHECK(cond, ...)                                                                             \
  do {                                                                                                    \
    if (!(cond)) ::dsrl::detail::check_failed(__FILE__, __LINE__, #cond, ::dsrl::detail::message(__VA_ARGS__)); \
  } while (0)

// DSRL_CHECK_EQ(got, expected, "what"): on mismatch says "what: expected <expected>, got <got>".
#define DSRL_CHECK_EQ(got, expected, ...)                                                                   \
  do {                                                                                                      \
    const auto& dsrl_got_ = (got);                                                                          \
    const auto& dsrl_expected_ = (expected);                                                                \
    if (!(dsrl_got_ == dsrl_expected_))                                                                     \
      ::dsrl::detail::check_eq_failed(__FILE__, __LINE__, #got, #expected, fmt::format("{}", dsrl_got_),  \
                                      fmt::format("{}", dsrl_expected_), ::dsrl::detail::message(__VA_ARGS__)); \
  } while (0)

// DSRL_FAIL("format {}", args...): an unconditional error with file:line.
#define DSRL_FAIL(...) ::dsrl::detail::check_failed(__FILE__, __LINE__, nullptr, ::dsrl::detail::message(__VA_ARGS__))
