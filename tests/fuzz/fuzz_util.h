// Shared by the libFuzzer targets: a per-process scratch file, and the rule every target enforces: bad input may
// raise dsrl::Error (a clear message), anything else escaping (another exception, a crash, UB) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"

namespace dsrl::fuzz {

// A file path private to this process, rewritten with each input.
inline const std::string& scratch_file(const char* name) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("dsrl-fuzz-" + std::to_string(getpid()) + "-" + name)).string();
  return path;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
}

// Aborts with `what` when a property that must hold for every input does not.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// Runs `fn`, accepting dsrl::Error (refused input) and nothing else.
template <class Fn>
void refusing_is_fine(Fn&& fn) {
  try {
    fn();
  } catch (const dsrl::Error&) {
  }
}

}  // namespace dsrl::fuzz
