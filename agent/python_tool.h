// The `python` tool: runs the model's Python code in the sandbox (agent/sandbox.h) in a fresh temporary folder
// that is deleted afterwards, and returns what the code printed (stdout and stderr) plus how it ended.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/sandbox.h"
#include "agent/tools.h"

namespace dsrl {

class ConfigIO;

struct PythonToolConfig {
  // Interpreter: a path or a name on PATH (shims and venvs are resolved once). Under root the code runs as
  // `nobody`, which must be able to read it: the system one, not one under /root.
  std::string python = "/usr/bin/python3";
  std::string temp_root = "/tmp";  // each call runs in a new folder dsrl-python-XXXXXX here, removed afterwards
  int64_t max_code_bytes = 65536;  // longer code is refused with an error result
  SandboxLimits limits;            // per call: wall clock, CPU, memory, file size, open files, output bytes
};
// YAML keys: interpreter, temp_root, max_code_bytes and the limits' wall_seconds, cpu_seconds, memory_mb,
// max_file_mb, max_open_files, max_output_bytes.
void describe(ConfigIO& io, PythonToolConfig& c);

// Whether `path` is relative, has no NUL byte and never climbs out with "..": a file name a tool may create in its
// folder.
bool is_relative_inside(const std::string& path);

// A sandboxed run as a tool result: the output ("(no output)" when none), then "[exit 1]" / "[killed: ...]" on a
// line of its own when it did not end cleanly; ok when clean.
ToolResult sandbox_tool_result(const SandboxResult& r);

class PythonTool : public Tool {
 public:
  // Resolves the interpreter (it runs `python -c 'import sys; ...'` once, unconfined: the config names it) and
  // runs a one-line program in the sandbox. Throws dsrl::Error when the interpreter cannot be found or cannot
  // run confined (no Landlock, not readable by the sandbox user), naming the interpreter and the reason.
  explicit PythonTool(PythonToolConfig config);
  std::string name() const override { return "python"; }
  std::string schema_json() const override;
  // {"code": "..."}. ok when the program exited 0; the text is its output, then "[exit 1]" / "[killed: ...]" when
  // it did not end cleanly.
  ToolResult call(const std::string& arguments_json) override;
  // Runs `code` and returns the sandbox's account (for tests and the code-task verifiers).
  SandboxResult run(const std::string& code) const;
  // Writes `files` (relative paths, folders created) into a fresh folder and runs the interpreter there with
  // `args` (e.g. {"-m", "unittest"}). Throws dsrl::Error on a path that is absolute or climbs out with "..".
  SandboxResult run_files(const std::map<std::string, std::string>& files, const std::vector<std::string>& args) const;
  const std::string& interpreter() const { return interpreter_; }

 private:
  PythonToolConfig config_;
  std::string interpreter_;               // absolute path of the real executable
  std::vector<std::string> read_paths_;   // the interpreter's prefixes
};

}  // namespace dsrl
