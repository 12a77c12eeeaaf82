// A sandbox for running untrusted programs (the python tool's code), Linux only, torch-free.
//
// The child process, before it execs the program:
//   - drops to user/group `nobody` (65534) when we run as root, so the kernel's per-user limits apply to it;
//   - gets resource limits: CPU seconds, address space, file size, open files, processes;
//   - is confined by Landlock (Linux >= 5.13): it may read and execute only beneath the system folders and the
//     interpreter's prefix, write only beneath its work folder; with Landlock ABI >= 4 it may not bind or connect
//     TCP; with ABI >= 6 it may not signal processes outside the sandbox or reach abstract UNIX sockets;
//   - is filtered by seccomp: socket() fails with EACCES (no network of any kind), fork/vfork and clone without
//     CLONE_THREAD fail with EPERM (threads are allowed, new processes are not), clone3 reports ENOSYS (so libc
//     falls back to clone), and mount, ptrace, unshare, setns, chroot, bpf, keyctl, module and reboot calls fail;
//   - starts with an empty environment apart from PATH, HOME and TMPDIR (the work folder), stdin /dev/null, and
//     no other inherited file descriptors.
// The parent reads stdout and stderr together, keeps the first max_output_bytes, kills the child when it writes
// more than that or runs past the wall-clock limit, and reports what happened.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsrl {

struct SandboxLimits {
  double wall_seconds = 10;         // killed (SIGKILL) after this long
  int64_t cpu_seconds = 10;         // RLIMIT_CPU: SIGXCPU/SIGKILL past it
  int64_t memory_mb = 1024;         // RLIMIT_AS: allocations past it fail (MemoryError in Python)
  int64_t max_file_mb = 16;         // RLIMIT_FSIZE: writing a file past it fails
  int64_t max_open_files = 64;      // RLIMIT_NOFILE
  int64_t max_output_bytes = 16384; // stdout + stderr kept; more than this and the child is killed
};

struct SandboxResult {
  int exit_code = -1;            // the program's exit status; -1 when it was killed by a signal
  int signal = 0;                // the signal that ended it (0: it exited)
  bool timed_out = false;        // killed at the wall-clock limit
  bool output_truncated = false; // killed for writing more than max_output_bytes
  std::string output;            // stdout and stderr interleaved as written, at most max_output_bytes
  double seconds = 0;            // wall-clock time
  // One line on how it ended: "exit 0", "exit 1", "killed: wall-clock limit 2 s", "killed by signal 24 (CPU
  // limit)", "killed: more than 16384 bytes of output".
  std::string ending() const;
  // Exited 0 on its own (no signal, no kill for time or output).
  bool clean() const { return exit_code == 0 && signal == 0 && !timed_out && !output_truncated; }
};

// Whether this kernel and machine can run the sandbox; when not, `why` says what is missing.
bool sandbox_available(std::string* why);

// Runs argv[0] (an absolute path) with argv in `workdir` (an existing folder the caller owns; the sandbox makes it
// writable by the sandbox user). `read_paths` are folders (or files) the program may read and execute beneath, on
// top of the system folders (/usr, /lib, /lib64, /lib32, /bin, /sbin, /etc, /dev). Throws dsrl::Error when the
// sandbox cannot be set up (no Landlock, an unsupported CPU architecture, fork failing); a program that fails
// or misbehaves is a result, not an exception.
SandboxResult run_sandboxed(const std::vector<std::string>& argv, const std::string& workdir,
                            const std::vector<std::string>& read_paths, const SandboxLimits& limits);

}  // namespace dsrl
