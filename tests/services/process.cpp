#include "tests/services/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace dsrl::testing {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string make_temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "dsrl_test_XXXXXX").string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  return templ;
}

pid_t spawn(const std::string& binary, const std::vector<std::string>& args, const std::string& out,
            const std::string& err) {
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for pid up to timeout_s; returns its exit code, 128+signal if signalled, -1 on timeout (then kills it).
int wait_exit(pid_t pid, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

RunResult run_process(const std::string& binary, const std::vector<std::string>& args, double timeout_s) {
  const std::string dir = make_temp_dir();
  RunResult result;
  result.exit_code = wait_exit(spawn(binary, args, dir + "/out", dir + "/err"), timeout_s);
  result.out = read_file(dir + "/out");
  result.err = read_file(dir + "/err");
  std::filesystem::remove_all(dir);
  return result;
}

ServiceProcess::ServiceProcess(const std::string& binary, const std::vector<std::string>& args, int port)
    : dir_(make_temp_dir()) {
  std::vector<std::string> all = args;
  // A short grace: gRPC waits out the whole grace while a client (this test) keeps its connection open.
  all.insert(all.end(), {"--set", "server.port=" + std::to_string(port), "--set", "server.port_file=" + dir_ + "/port", "--set",
                         "server.shutdown_grace_s=0.5"});
  pid_ = spawn(binary, all, dir_ + "/out", dir_ + "/err");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = read_file(dir_ + "/port");
    if (!text.empty() && text.back() == '\n') {
      port_ = std::stoi(text);
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error(binary + " exited before listening:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error(binary + " did not write its port within 20 s:\n" + log());
}

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) stop(SIGKILL, 5);
  std::filesystem::remove_all(dir_);
}

int ServiceProcess::stop(int signal, double timeout_s) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const int code = wait_exit(pid_, timeout_s);
  pid_ = -1;
  return code;
}

std::string ServiceProcess::log() const { return read_file(dir_ + "/err"); }

}  // namespace dsrl::testing
