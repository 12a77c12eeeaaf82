// The staging copy of a weight update (torch-free): every piece checked as it arrives, every tensor assembled in
// host memory; the engine installs it only when commit finds it complete.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "rollout/engine.h"

namespace dsrl {

// What the worker holds under one checkpoint name.
struct ParamSlot {
  std::vector<int64_t> shape;
  std::string dtype;  // as WeightPiece::dtype
  uint64_t bytes = 0;
};

class WeightStaging {
 public:
  WeightStaging(const std::map<std::string, ParamSlot>* slots, uint64_t current_version)
      : slots_(slots), current_version_(current_version) {}
  // Checks and copies one piece in; throws RequestError.
  void add(const WeightPiece& piece);
  // Throws RequestError unless every announced tensor arrived whole.
  void check_complete() const;

  struct Staged {
    std::string data;                          // the whole tensor's bytes
    std::map<uint64_t, uint64_t> ranges;       // byte ranges received: offset -> end
    uint64_t received = 0;
  };
  const std::map<std::string, Staged>& tensors() const { return tensors_; }
  uint64_t version() const { return version_; }
  uint64_t bytes() const { return bytes_; }

 private:
  const std::map<std::string, ParamSlot>* slots_;
  uint64_t current_version_;
  uint64_t version_ = 0;
  int64_t total_tensors_ = 0;
  uint64_t bytes_ = 0;
  std::map<std::string, Staged> tensors_;
};

}  // namespace dsrl
