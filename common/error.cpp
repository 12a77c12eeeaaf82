#include "common/error.h"

namespace dsrl::detail {
namespace {

// __FILE__ as the compiler saw it: made relative to the repository by -fmacro-prefix-map, or relative to the
// build directory ("../common/x.cpp") when ccache rewrote paths under CCACHE_BASEDIR. Shown repository-relative.
const char* repo_path(const char* file) {
  while (file[0] == '.' && file[1] == '.' && file[2] == '/') file += 3;
  return file;
}

}  // namespace

void check_failed(const char* file, int line, const char* condition, const std::string& message) {
  std::string where = condition ? fmt::format("check `{}` failed at {}:{}", condition, repo_path(file), line)
                                : fmt::format("at {}:{}", repo_path(file), line);
  throw Error(message.empty() ? where : fmt::format("{} ({})", message, where));
}

void check_eq_failed(const char* file, int line, const char* lhs_text, const char* rhs_text, const std::string& lhs,
                     const std::string& rhs, const std::string& message) {
  std::string what = message.empty() ? std::string(lhs_text) : message;
  throw Error(fmt::format("{}: expected {}, got {} (check `{} == {}` failed at {}:{})", what, rhs, lhs, lhs_text,
                          rhs_text, repo_path(file), line));
}

}  // namespace dsrl::detail
