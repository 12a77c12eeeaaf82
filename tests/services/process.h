// Test helper: runs project binaries as real child processes (services on 127.0.0.1, port 0).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace dsrl::testing {

struct RunResult {
  int exit_code = -1;  // -1: did not exit in time (killed)
  std::string out, err;
};

// Runs `binary args...` to completion (SIGKILL after timeout_s).
RunResult run_process(const std::string& binary, const std::vector<std::string>& args, double timeout_s = 30);

// A service started with `--set server.port=PORT --set server.port_file=...` (PORT 0: any free one); stopped with a
// signal or killed when destroyed.
class ServiceProcess {
 public:
  ServiceProcess(const std::string& binary, const std::vector<std::string>& args, int port = 0);
  ~ServiceProcess();
  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 once stopped
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Sends `signal` and waits; returns the exit code, or -1 if it had to be killed after timeout_s.
  int stop(int signal, double timeout_s = 10);
  std::string log() const;  // its stderr so far

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

}  // namespace dsrl::testing
