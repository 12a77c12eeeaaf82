// Test helper: MPI initialised once per test process (a singleton rank), finalised at exit.
#pragma once

#include "trainer/dist.h"

namespace dsrl::testing {

inline const MpiSession& mpi() {
  static int argc = 0;
  static char** argv = nullptr;
  static MpiSession session(&argc, &argv);
  return session;
}

}  // namespace dsrl::testing
