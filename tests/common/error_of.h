// Test helper: the message of the exception `f` throws (dsrl::Error or any std::exception), or "<no error>".
#pragma once

#include <exception>
#include <functional>
#include <string>

namespace dsrl::testing {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace dsrl::testing
