// A small seeded generator whose output is the same on every platform and standard library (std::shuffle and
// std::uniform_int_distribution are not specified bit for bit), for document order and synthetic corpora.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace dsrl {

// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, passes BigCrush; plenty for shuffling.
class DataRng {
 public:
  explicit DataRng(uint64_t seed) : state_(seed) {}
  // Independent streams from several numbers (seed, epoch, source index, ...).
  DataRng(uint64_t seed, uint64_t stream) : state_(mix(seed ^ mix(stream + 0x632be59bd9b4e019ULL))) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    return mix_step(z);
  }
  // Uniform in [0, n), n >= 1 (Lemire's multiply-shift; the bias is below 2^-40 for the n used here).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  // Uniform in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1)); }

  // Fisher-Yates.
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  static uint64_t mix_step(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  static uint64_t mix(uint64_t z) { return mix_step(z + 0x9e3779b97f4a7c15ULL); }
  uint64_t state_;
};

}  // namespace dsrl
