// run_sandboxed: fork, confine the child (see sandbox.h), exec, and watch it. Everything the child does between
// fork and exec is a plain system call on memory prepared before the fork, so a multi-threaded parent (gRPC
// threads) is safe to fork from.
#include "agent/sandbox.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <thread>

#include "common/error.h"

namespace dsrl {
namespace {

// Landlock's interface, written out here because the installed kernel headers may predate ABI 4-6.
struct LandlockRulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;  // ABI >= 4
  uint64_t scoped;              // ABI >= 6
};
struct __attribute__((packed)) LandlockPathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};
constexpr uint32_t kLandlockVersionQuery = 1U << 0;
constexpr int kLandlockRulePathBeneath = 1;
enum : uint64_t {
  kFsExecute = 1ULL << 0, kFsWriteFile = 1ULL << 1, kFsReadFile = 1ULL << 2, kFsReadDir = 1ULL << 3,
  kFsAbi1All = (1ULL << 13) - 1,  // execute .. make_sym
  kFsRefer = 1ULL << 13,          // ABI >= 2
  kFsTruncate = 1ULL << 14,       // ABI >= 3
  kFsIoctlDev = 1ULL << 15,       // ABI >= 5
  kNetBindTcp = 1ULL << 0, kNetConnectTcp = 1ULL << 1,
  kScopeAbstractUnix = 1ULL << 0, kScopeSignal = 1ULL << 1,
};
constexpr uint64_t kFileRights = kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;

constexpr uid_t kNobody = 65534;

int landlock_abi() {
  const long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, kLandlockVersionQuery);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

uint64_t handled_fs(int abi) {
  uint64_t fs = kFsAbi1All;
  if (abi >= 2) fs |= kFsRefer;
  if (abi >= 3) fs |= kFsTruncate;
  if (abi >= 5) fs |= kFsIoctlDev;
  return fs;
}

// Allows `rights` beneath `path` (file rights only when it is not a folder). A path that does not exist is skipped.
void allow_path(int ruleset, const std::string& path, uint64_t rights) {
  const int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  fstat(fd, &st);
  LandlockPathBeneathAttr rule{S_ISDIR(st.st_mode) ? rights : (rights & kFileRights), fd};
  const long rc = syscall(SYS_landlock_add_rule, ruleset, kLandlockRulePathBeneath, &rule, 0);
  const int err = errno;
  close(fd);
  DSRL_CHECK(rc == 0, "sandbox: Landlock rule for {} failed: {}", path, strerror(err));
}

// The ruleset the child restricts itself to; the caller closes the returned fd.
int make_ruleset(const std::string& workdir, const std::vector<std::string>& read_paths) {
  const int abi = landlock_abi();
  const uint64_t fs = handled_fs(abi);
  LandlockRulesetAttr attr{fs, abi >= 4 ? (kNetBindTcp | kNetConnectTcp) : 0,
                           abi >= 6 ? (kScopeAbstractUnix | kScopeSignal) : 0};
  const size_t size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
  const int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  DSRL_CHECK(ruleset >= 0, "sandbox: creating the Landlock ruleset failed: {}", strerror(errno));
  const uint64_t read = kFsExecute | kFsReadFile | kFsReadDir;
  try {
    for (const char* p : {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/dev"}) allow_path(ruleset, p, read);
    for (const auto& p : read_paths) allow_path(ruleset, p, read);
    allow_path(ruleset, "/dev/null", kFsReadFile | kFsWriteFile | (fs & kFsTruncate));
    allow_path(ruleset, workdir, fs);
  } catch (...) {
    close(ruleset);
    throw;
  }
  return ruleset;
}

// seccomp program: see sandbox.h for what it denies.
#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kAuditArch = 0;
#endif

sock_filter stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return BPF_JUMP(code, k, jt, jf); }
uint32_t ret_errno(int e) { return SECCOMP_RET_ERRNO | (static_cast<uint32_t>(e) & SECCOMP_RET_DATA); }

std::vector<sock_filter> seccomp_program() {
  std::vector<sock_filter> p;
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
  p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1));  // the x32 ABI: refused whole
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
#endif
  auto deny = [&](long nr, int err) {
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
    p.push_back(stmt(BPF_RET | BPF_K, ret_errno(err)));
  };
  deny(SYS_socket, EACCES);
  deny(SYS_socketpair, EACCES);
  deny(SYS_clone3, ENOSYS);
#ifdef SYS_fork
  deny(SYS_fork, EPERM);
  deny(SYS_vfork, EPERM);
#endif
  for (long nr : {SYS_ptrace, SYS_mount, SYS_umount2, SYS_unshare, SYS_setns, SYS_chroot, SYS_pivot_root, SYS_bpf,
                  SYS_keyctl, SYS_add_key, SYS_request_key, SYS_init_module, SYS_finit_module, SYS_delete_module,
                  SYS_kexec_load, SYS_reboot, SYS_swapon, SYS_swapoff, SYS_perf_event_open,
                  SYS_process_vm_readv, SYS_process_vm_writev}) {
    deny(nr, EPERM);
  }
  // clone: a thread (CLONE_THREAD in the flags, argument 0 on both architectures) is allowed, a process is not.
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])));  // low half on little-endian
  p.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  p.push_back(stmt(BPF_RET | BPF_K, ret_errno(EPERM)));
  return p;
}

// Everything the child needs, built before fork.
struct ChildPlan {
  std::vector<char*> argv, envp;
  const char* workdir;
  int out_fd, null_fd, ruleset;
  bool drop_to_nobody;
  const SandboxLimits* limits;
  sock_fprog filter;
};

[[noreturn]] void child_fail(const char* what) {
  const int err = errno;
  const char* reason = strerror(err);  // glibc's table: no allocation for known errors
  const char prefix[] = "sandbox: ";
  (void)!write(2, prefix, sizeof(prefix) - 1);
  (void)!write(2, what, strlen(what));
  (void)!write(2, ": ", 2);
  (void)!write(2, reason, strlen(reason));
  (void)!write(2, "\n", 1);
  _exit(126);
}

void set_limit(int resource, rlim_t value, const char* what) {
  rlimit r{value, value};
  if (resource == RLIMIT_CPU) r.rlim_max = value + 1;  // SIGXCPU at the soft limit, SIGKILL a second later
  if (setrlimit(resource, &r) != 0) child_fail(what);
}

[[noreturn]] void run_child(const ChildPlan& plan) {
  setpgid(0, 0);
  if (dup2(plan.null_fd, 0) < 0 || dup2(plan.out_fd, 1) < 0 || dup2(plan.out_fd, 2) < 0) _exit(126);
  if (chdir(plan.workdir) != 0) child_fail("chdir to the work folder");
  if (plan.drop_to_nobody) {
    // Raw system calls: glibc's wrappers may try to synchronise threads the forked child no longer has.
    if (syscall(SYS_setgroups, 0, nullptr) != 0 || syscall(SYS_setgid, kNobody) != 0 ||
        syscall(SYS_setuid, kNobody) != 0)
      child_fail("dropping to nobody");
    set_limit(RLIMIT_NPROC, 64, "RLIMIT_NPROC");
  }
  const SandboxLimits& l = *plan.limits;
  set_limit(RLIMIT_CPU, static_cast<rlim_t>(l.cpu_seconds), "RLIMIT_CPU");
  set_limit(RLIMIT_AS, static_cast<rlim_t>(l.memory_mb) << 20, "RLIMIT_AS");
  set_limit(RLIMIT_FSIZE, static_cast<rlim_t>(l.max_file_mb) << 20, "RLIMIT_FSIZE");
  set_limit(RLIMIT_NOFILE, static_cast<rlim_t>(l.max_open_files), "RLIMIT_NOFILE");
  set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail("PR_SET_NO_NEW_PRIVS");
  if (syscall(SYS_landlock_restrict_self, plan.ruleset, 0) != 0) child_fail("landlock_restrict_self");
  if (syscall(SYS_close_range, 3U, ~0U, 0) != 0) child_fail("close_range");
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan.filter, 0, 0) != 0) child_fail("installing seccomp");
  execve(plan.argv[0], plan.argv.data(), plan.envp.data());
  child_fail("exec");
}

using Clock = std::chrono::steady_clock;

// Reads the child's output until EOF, the output cap or the deadline; kills the process group on the last two.
void watch_output(int fd, pid_t pid, const SandboxLimits& limits, Clock::time_point deadline, SandboxResult* r) {
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r->timed_out = true;
      break;
    }
    pollfd pfd{fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 100)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EOF: the child (and anything holding its output) is gone or closed it
    const size_t room = static_cast<size_t>(limits.max_output_bytes) - r->output.size();
    r->output.append(buf, std::min(room, static_cast<size_t>(n)));
    if (static_cast<size_t>(n) > room) {
      r->output_truncated = true;
      break;
    }
  }
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
}

// Waits for the child, killing it at the deadline (it may have closed its output and kept running).
int reap(pid_t pid, Clock::time_point deadline, SandboxResult* r) {
  int status = 0;
  for (;;) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return status;
    if (Clock::now() >= deadline && !r->timed_out) {
      r->timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

std::string SandboxResult::ending() const {
  if (timed_out) return fmt::format("killed: wall-clock limit ({:.1f} s)", seconds);
  if (output_truncated) return fmt::format("killed: more than {} bytes of output", output.size());
  if (signal == SIGXCPU) return "killed: CPU time limit";
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return fmt::format("killed by signal {} (SIG{})", signal, name ? name : "?");
  }
  return fmt::format("exit {}", exit_code);
}

bool sandbox_available(std::string* why) {
  std::string reason;
  if (kAuditArch == 0) reason = "seccomp filter written for x86_64 and aarch64 only";
  else if (landlock_abi() < 1) reason = "Landlock is not available (Linux >= 5.13 with landlock in the LSM list, "
                                        "see /sys/kernel/security/lsm)";
  if (why) *why = reason;
  return reason.empty();
}

SandboxResult run_sandboxed(const std::vector<std::string>& argv, const std::string& workdir,
                            const std::vector<std::string>& read_paths, const SandboxLimits& limits) {
  std::string why;
  DSRL_CHECK(sandbox_available(&why), "sandbox: cannot confine programs on this machine: {}", why);
  DSRL_CHECK(!argv.empty() && !argv[0].empty() && argv[0][0] == '/', "sandbox: argv[0] must be an absolute path, got '{}'",
             argv.empty() ? "" : argv[0]);
  const bool root = geteuid() == 0;
  if (root) DSRL_CHECK(chown(workdir.c_str(), kNobody, kNobody) == 0, "sandbox: chown {} failed: {}", workdir, strerror(errno));

  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + workdir, "TMPDIR=" + workdir,
                                  "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"};
  ChildPlan plan{};
  for (const auto& a : argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  for (const auto& e : env) plan.envp.push_back(const_cast<char*>(e.c_str()));
  plan.envp.push_back(nullptr);
  std::vector<sock_filter> program = seccomp_program();
  plan.filter = sock_fprog{static_cast<unsigned short>(program.size()), program.data()};
  plan.workdir = workdir.c_str();
  plan.drop_to_nobody = root;
  plan.limits = &limits;

  int pipe_fds[2];
  DSRL_CHECK(pipe2(pipe_fds, O_CLOEXEC) == 0, "sandbox: pipe failed: {}", strerror(errno));
  plan.out_fd = pipe_fds[1];
  plan.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  plan.ruleset = -1;
  try {
    DSRL_CHECK(plan.null_fd >= 0, "sandbox: opening /dev/null failed: {}", strerror(errno));
    plan.ruleset = make_ruleset(workdir, read_paths);
  } catch (...) {
    for (int fd : {pipe_fds[0], pipe_fds[1], plan.null_fd}) if (fd >= 0) close(fd);
    throw;
  }

  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) run_child(plan);
  const int fork_errno = errno;
  close(pipe_fds[1]);
  close(plan.null_fd);
  close(plan.ruleset);
  if (pid < 0) {
    close(pipe_fds[0]);
    throw Error(fmt::format("sandbox: fork failed: {}", strerror(fork_errno)));
  }
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limits.wall_seconds));
  SandboxResult r;
  watch_output(pipe_fds[0], pid, limits, deadline, &r);
  close(pipe_fds[0]);
  const int status = reap(pid, deadline, &r);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

}  // namespace dsrl
