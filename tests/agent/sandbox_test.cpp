// The python tool's sandbox: each escape attempt the issue lists (network, fork bomb, writing or reading outside
// the work folder, an infinite loop, huge output, a memory hog) is contained, and the result says how it ended.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/python_tool.h"
#include "agent/sandbox.h"

namespace dsrl {
namespace {

PythonTool& tool() {
  static PythonTool* t = [] {
    PythonToolConfig c;
    c.limits.wall_seconds = 3;
    c.limits.cpu_seconds = 2;
    c.limits.memory_mb = 512;
    c.limits.max_output_bytes = 4096;
    return new PythonTool(c);
  }();
  return *t;
}

TEST(Sandbox, IsAvailableHere) {
  std::string why;
  EXPECT_TRUE(sandbox_available(&why)) << why;
}

TEST(Sandbox, RunsCodeAndReportsExitStatus) {
  SandboxResult ok = tool().run("import math\nprint(math.factorial(10))");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output, "3628800\n");
  EXPECT_EQ(ok.ending(), "exit 0");
  SandboxResult bad = tool().run("raise SystemExit(3)");
  EXPECT_EQ(bad.exit_code, 3);
  SandboxResult error = tool().run("1/0");
  EXPECT_EQ(error.exit_code, 1);
  EXPECT_NE(error.output.find("ZeroDivisionError"), std::string::npos) << error.output;
}

// A listener on 127.0.0.1 that the sandboxed code tries to reach; nothing may arrive.
TEST(Sandbox, NetworkIsDenied) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  const SandboxResult r = tool().run(
      "import socket\ntry:\n    socket.create_connection(('127.0.0.1', " + std::to_string(port) +
      "), timeout=1)\n    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)\n"
      "import urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:" + std::to_string(port) +
      "', timeout=1)\nexcept Exception as e:\n    print('urllib', type(e).__name__)\n");
  EXPECT_NE(r.output.find("refused 13"), std::string::npos) << r.output;  // EACCES
  EXPECT_EQ(r.output.find("connected"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("urllib"), std::string::npos) << r.output;
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "a connection reached the listener";
  close(listener);
}

TEST(Sandbox, ForkBombAndSubprocessesAreDenied) {
  const SandboxResult bomb = tool().run("import os\nwhile True:\n    os.fork()\n");
  EXPECT_EQ(bomb.exit_code, 1) << bomb.ending() << "\n" << bomb.output;
  EXPECT_NE(bomb.output.find("Operation not permitted"), std::string::npos) << bomb.output;
  EXPECT_FALSE(bomb.timed_out);
  const SandboxResult sub = tool().run("import subprocess\nsubprocess.run(['/bin/echo', 'escaped'])\n");
  EXPECT_NE(sub.exit_code, 0);
  EXPECT_EQ(sub.output.find("escaped\n"), std::string::npos) << sub.output;
  const SandboxResult threads = tool().run(
      "import threading\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
      "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(out))\n");
  EXPECT_EQ(threads.output, "[0, 1, 2, 3]\n") << "threads are allowed";
}

TEST(Sandbox, FilesOutsideTheWorkFolderCannotBeWrittenOrRead) {
  const auto outside = std::filesystem::temp_directory_path() / ("dsrl-sandbox-outside-" + std::to_string(getpid()));
  std::filesystem::create_directories(outside);
  std::filesystem::permissions(outside, std::filesystem::perms::all);  // even a world-writable folder
  { std::ofstream(outside / "secret.txt") << "the secret"; }
  std::filesystem::permissions(outside / "secret.txt", std::filesystem::perms::all);
  const std::string dir = outside.string();
  const SandboxResult r = tool().run(
      "import os\n"
      "for path in ['" + dir + "/escape.txt', '/tmp/dsrl-escape.txt', os.path.expanduser('~/../escape.txt')]:\n"
      "    try:\n        open(path, 'w').write('x')\n        print('wrote', path)\n"
      "    except OSError as e:\n        print('denied', e.errno)\n"
      "try:\n    print(open('" + dir + "/secret.txt').read())\nexcept OSError as e:\n    print('read denied', e.errno)\n"
      "open('inside.txt', 'w').write('ok')\nprint('inside', open('inside.txt').read(), os.getcwd())\n");
  EXPECT_EQ(r.output.find("wrote"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("the secret"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("read denied"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("inside ok"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(outside / "escape.txt"));
  EXPECT_FALSE(std::filesystem::exists("/tmp/dsrl-escape.txt"));
  // The work folder is wiped afterwards.
  const std::string cwd = r.output.substr(r.output.rfind(' ') + 1, r.output.size() - r.output.rfind(' ') - 2);
  EXPECT_EQ(cwd.rfind("/tmp/dsrl-python-", 0), 0u) << cwd;
  EXPECT_FALSE(std::filesystem::exists(cwd)) << cwd;
  std::filesystem::remove_all(outside);
}

TEST(Sandbox, InfiniteLoopsAreKilled) {
  const SandboxResult busy = tool().run("while True:\n    pass\n");
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_TRUE(busy.signal != 0) << busy.ending();
  EXPECT_LT(busy.seconds, 4.0);
  const SandboxResult sleeping = tool().run("import time\ntime.sleep(60)\n");
  EXPECT_TRUE(sleeping.timed_out) << sleeping.ending();
  EXPECT_NE(sleeping.ending().find("wall-clock"), std::string::npos);
  EXPECT_LT(sleeping.seconds, 4.0);
}

TEST(Sandbox, HugeOutputIsCutAndKilled) {
  const SandboxResult r = tool().run("while True:\n    print('x' * 1000)\n");
  EXPECT_TRUE(r.output_truncated) << r.ending();
  EXPECT_EQ(r.output.size(), 4096u);
  EXPECT_NE(r.ending().find("more than 4096 bytes"), std::string::npos) << r.ending();
  EXPECT_LT(r.seconds, 3.0);
}

TEST(Sandbox, MemoryIsCapped) {
  const SandboxResult r = tool().run("x = bytearray(2 * 1024**3)\nprint('allocated')\n");
  EXPECT_NE(r.output.find("MemoryError"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("allocated"), std::string::npos);
}

TEST(PythonTool, CallReturnsOutputOrAnError) {
  const ToolResult ok = tool().call(R"j({"code": "print(sum(range(101)))"})j");
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.text, "5050\n");
  const ToolResult failed = tool().call(R"j({"code": "import sys\nprint('half')\nsys.exit(2)"})j");
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.text, "half\n[exit 2]");
  EXPECT_FALSE(tool().call(R"j({"program": "print(1)"})j").ok);
  const nlohmann::json schema = nlohmann::json::parse(tool().schema_json());
  EXPECT_EQ(schema["name"], "python");
  EXPECT_EQ(schema["parameters"]["required"][0], "code");
}

TEST(PythonTool, ABadInterpreterIsAClearError) {
  PythonToolConfig c;
  c.python = "/nonexistent/python3";
  try {
    PythonTool t(c);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/python3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsrl
