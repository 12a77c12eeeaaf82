#include "kernels/sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace dsrl::kernels {
namespace {

// The kept ids of one row (in the selection order) from its scaled logits.
std::vector<int64_t> kept_ids(const std::vector<float>& s, int64_t n, const SamplingSpec& spec) {
  std::vector<int64_t> order;
  for (int64_t i = 0; i < n; ++i)
    if (s[i] > -std::numeric_limits<float>::infinity()) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&s](int64_t a, int64_t b) { return s[a] > s[b]; });
  size_t keep = order.size();
  if (spec.top_k > 0) keep = std::min(keep, static_cast<size_t>(spec.top_k));
  if (spec.top_p > 0 && spec.top_p < 1 && !order.empty()) {
    const double max = s[order[0]];
    double z = 0;
    for (int64_t i : order) z += std::exp(static_cast<double>(s[i]) - max);
    double before = 0;
    size_t nucleus = 0;
    while (nucleus < order.size() && before < spec.top_p) before += std::exp(s[order[nucleus++]] - max) / z;
    keep = std::min(keep, nucleus);
  }
  order.resize(keep);
  return order;
}

}  // namespace

void sample_reference(const float* logits, const double* uniforms, int64_t rows, int64_t vocab,
                      const SamplingSpec& spec, int64_t* tokens, float* logprobs, uint8_t* kept_bits) {
  const int64_t n = spec.vocab_limit > 0 ? std::min(spec.vocab_limit, vocab) : vocab;
  const int64_t bytes = (vocab + 7) / 8;
  std::vector<float> s(static_cast<size_t>(vocab));
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * vocab;
    uint8_t* bits = kept_bits + r * bytes;
    std::memset(bits, 0, static_cast<size_t>(bytes));
    if (spec.temperature == 0) {  // the highest non-NaN logit, lowest id on ties; id 0 when there is none
      int64_t best = -1;
      for (int64_t i = 0; i < n; ++i)
        if (!std::isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i;
      best = std::max<int64_t>(best, 0);
      tokens[r] = best;
      logprobs[r] = 0;
      bits[best / 8] |= static_cast<uint8_t>(1u << (best % 8));
      continue;
    }
    for (int64_t i = 0; i < vocab; ++i) s[i] = x[i] / spec.temperature;
    std::vector<int64_t> kept = kept_ids(s, n, spec);
    std::sort(kept.begin(), kept.end());  // the draw walks ids in order
    const double max = kept.empty() ? 0.0 : *std::max_element(s.begin(), s.begin() + n);
    double mass = 0;
    for (int64_t i : kept) mass += std::exp(s[i] - max);
    const double target = std::clamp(uniforms[r], 0.0, 1.0 - 1e-12) * mass;
    double running = 0;
    int64_t token = kept.empty() ? 0 : kept.back();
    for (int64_t i : kept) {
      running += std::exp(s[i] - max);
      if (running > target) {
        token = i;
        break;
      }
    }
    for (int64_t i : kept) bits[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    tokens[r] = token;
    logprobs[r] = kept.empty() ? -std::numeric_limits<float>::infinity()
                               : static_cast<float>(s[token] - max - std::log(mass));
  }
}

}  // namespace dsrl::kernels
