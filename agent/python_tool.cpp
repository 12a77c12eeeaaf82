#include "agent/python_tool.h"

#include <stdio.h>
#include <stdlib.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/config.h"
#include "common/error.h"

namespace dsrl {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// sys.executable, sys.prefix and sys.base_prefix of the configured interpreter, one per line.
std::vector<std::string> interpreter_paths(const std::string& python) {
  const std::string command =
      shell_quote(python) + " -c 'import sys; print(sys.executable); print(sys.prefix); print(sys.base_prefix)' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  DSRL_CHECK(pipe != nullptr, "python tool: cannot run '{}'", python);
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) text.append(buf, n);
  const int status = pclose(pipe);
  DSRL_CHECK(status == 0, "python tool: interpreter '{}' (the python tool's interpreter setting) did not run: {}", python, text);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) if (!line.empty()) lines.push_back(line);
  DSRL_CHECK(lines.size() == 3 && !lines[0].empty() && lines[0][0] == '/',
             "python tool: interpreter '{}' did not report its executable and prefixes, got: {}", python, text);
  return lines;
}

}  // namespace

bool is_relative_inside(const std::string& path) {
  if (path.empty() || path[0] == '/' || path.find('\0') != std::string::npos) return false;
  for (const auto& part : std::filesystem::path(path)) if (part == "..") return false;
  return true;
}

namespace {

// A new folder under root, removed (with whatever the code left there) when this goes out of scope.
class TempFolder {
 public:
  explicit TempFolder(const std::string& root) {
    std::string pattern = (std::filesystem::path(root) / "dsrl-python-XXXXXX").string();
    DSRL_CHECK(mkdtemp(pattern.data()) != nullptr, "python tool: cannot create a folder in {} (the python tool's temp_root setting)", root);
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

PythonTool::PythonTool(PythonToolConfig config) : config_(std::move(config)) {
  const std::vector<std::string> paths = interpreter_paths(config_.python);
  interpreter_ = std::filesystem::canonical(paths[0]).string();
  read_paths_ = {paths[1], paths[2], std::filesystem::path(interpreter_).parent_path().string()};
  const SandboxResult probe = run("print(6 * 7)");
  DSRL_CHECK(probe.clean() && probe.output == "42\n",
             "python tool: {} (from the interpreter setting '{}') does not run in the sandbox ({}): {}", interpreter_,
             config_.python, probe.ending(), probe.output);
}

std::string PythonTool::schema_json() const {
  return tool_schema("python",
                     fmt::format("Runs Python 3 code and returns what it prints (stdout and stderr). Each call starts "
                                 "fresh in an empty folder; no network; at most {:g} s and {} MB.",
                                 config_.limits.wall_seconds, config_.limits.memory_mb),
                     {{"code", "string", "a complete program; print the values you want to see"}});
}

SandboxResult PythonTool::run(const std::string& code) const { return run_files({{"main.py", code}}, {"main.py"}); }

SandboxResult PythonTool::run_files(const std::map<std::string, std::string>& files,
                                    const std::vector<std::string>& args) const {
  TempFolder folder(config_.temp_root);
  for (const auto& [name, content] : files) {
    DSRL_CHECK(is_relative_inside(name), "python tool: file name '{}' must be a relative path without '..'", name);
    const std::filesystem::path path = std::filesystem::path(folder.path()) / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    DSRL_CHECK(out.good(), "python tool: cannot write {}", path.string());
  }
  // -I: isolated (no environment variables, user site or script folder on sys.path); -B: no .pyc files.
  std::vector<std::string> argv = {interpreter_, "-I", "-B"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_sandboxed(argv, folder.path(), read_paths_, config_.limits);
}

ToolResult PythonTool::call(const std::string& arguments_json) {
  const nlohmann::json args = nlohmann::json::parse(arguments_json);
  if (!args.contains("code") || !args["code"].is_string())
    return {"error: python needs a string argument \"code\"", false};
  const std::string code = args["code"].get<std::string>();
  if (static_cast<int64_t>(code.size()) > config_.max_code_bytes)
    return {fmt::format("error: the code is {} bytes, more than the limit of {}", code.size(), config_.max_code_bytes),
            false};
  return sandbox_tool_result(run(code));
}

ToolResult sandbox_tool_result(const SandboxResult& r) {
  std::string text = r.output.empty() ? std::string("(no output)") : r.output;
  if (!r.clean()) text += (text.back() == '\n' ? "" : "\n") + std::string("[") + r.ending() + "]";
  return {text, r.clean()};
}

void describe(ConfigIO& io, PythonToolConfig& c) {
  io.field("interpreter", c.python);
  io.field("temp_root", c.temp_root);
  io.field("max_code_bytes", c.max_code_bytes, int64_t{1}, int64_t{1} << 30);
  io.field("wall_seconds", c.limits.wall_seconds, 0.01, 3600.0);
  io.field("cpu_seconds", c.limits.cpu_seconds, int64_t{1}, int64_t{3600});
  io.field("memory_mb", c.limits.memory_mb, int64_t{16}, int64_t{1} << 20);
  io.field("max_file_mb", c.limits.max_file_mb, int64_t{0}, int64_t{1} << 20);
  io.field("max_open_files", c.limits.max_open_files, int64_t{8}, int64_t{1} << 20);
  io.field("max_output_bytes", c.limits.max_output_bytes, int64_t{1}, int64_t{1} << 30);
}

}  // namespace dsrl
