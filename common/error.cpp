#include "common/error.h"

namespace dsrl::detail {

void check_failed(const char* file, int line, const char* condition, const std::string& message) {
  std::string where = condition ? fmt::format("check `{}` failed at {}:{}", condition, file, line)
                                : fmt::format("at {}:{}", file, line);
  throw Error(message.empty() ? where : fmt::format("{} ({})", message, where));
}

void check_eq_failed(const char* file, int line, const char* lhs_text, const char* rhs_text, const std::string& lhs,
                     const std::string& rhs, const std::string& message) {
  std::string what = message.empty() ? std::string(lhs_text) : message;
  throw Error(fmt::format("{}: expected {}, got {} (check `{} == {}` failed at {}:{})", what, rhs, lhs, lhs_text,
                          rhs_text, file, line));
}

}  // namespace dsrl::detail
