// Fused sampling: one block per row. Passes over the row: the max (argmax for greedy); the softmax normaliser;
// a count radix select for top-k and a probability-mass radix select for top-p, each giving a prefix of the
// selection order as (threshold key, how many keys equal to it, in id order); then an ordered pass that writes
// the kept bits and finds the drawn token by a block scan of the kept mass.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstdint>

#include "kernels/radix_select.cuh"
#include "kernels/sampling_cuda.h"

namespace dsrl::kernels {
namespace {

using namespace radix;

constexpr int kThreads = 1024;

struct Args {
  const float* logits;
  const double* uniforms;
  int64_t vocab, n;  // n: ids below it take part (vocab_limit)
  SamplingSpec spec;
  int64_t* tokens;
  float* logprobs;
  uint8_t* bits;
};

// A prefix of the selection order: every present key above `threshold` and the first `quota` keys equal to it.
struct Prefix {
  uint32_t threshold = kMinusInfKey, quota = 0, size = 0;
};

struct MaxAt {
  float value;
  int64_t id;
};
struct MinInt {
  __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};
struct MaxInt {
  __device__ int operator()(int a, int b) const { return a > b ? a : b; }
};
struct MaxAtOp {
  __device__ MaxAt operator()(const MaxAt& a, const MaxAt& b) const {
    return b.value > a.value || (b.value == a.value && b.id < a.id) ? b : a;
  }
};

// Histogram copies: warps add into copy (warp % kCopies), which spreads the atomics of the few busy bins (the top
// byte of a float is mostly its exponent); the copies are summed into copy 0 before the search.
constexpr int kCopies = 8;

struct Shared {
  union {
    cub::BlockReduce<MaxAt, kThreads>::TempStorage max_at;
    cub::BlockReduce<double, kThreads>::TempStorage sum;
    cub::BlockReduce<int, kThreads>::TempStorage count;
    cub::BlockScan<int, kThreads>::TempStorage scan_int;
    cub::BlockScan<double, kThreads>::TempStorage scan_double;
  } cub;
  uint32_t counts[kCopies][256];
  double masses[kCopies][256];
  uint32_t bin, count_above;
  double mass_above;
  MaxAt best;
  double z;
  int present;
  int drawer;  // the thread that draws the token
};

__device__ float scaled(const Args& a, const float* x, int64_t i) { return x[i] / a.spec.temperature; }

// Probabilities in double, as the reference computes them, so that a nucleus boundary lands where it does there.
__device__ double weight(float s, float max_s) { return exp(static_cast<double>(s) - static_cast<double>(max_s)); }

// Four 8-bit passes. by_mass: the prefix whose mass first reaches `need` (in exp(s - max) units); else the first
// `need` keys. Returns the threshold key and the quota of keys equal to it.
__device__ Prefix radix_prefix(const Args& a, const float* x, float max_s, double need, bool by_mass, Shared& sh) {
  uint32_t prefix = 0, mask = 0, count_above = 0;
  const int copy = (threadIdx.x / 32) % kCopies;
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    for (int i = threadIdx.x; i < kCopies * 256; i += kThreads) (&sh.counts[0][0])[i] = 0, (&sh.masses[0][0])[i] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < a.n; i += kThreads) {
      const float s = scaled(a, x, i);
      const uint32_t key = order_key(s);
      if (!present(key) || (key & mask) != prefix) continue;
      const uint32_t b = (key >> shift) & 255u;
      atomicAdd(&sh.counts[copy][b], 1u);
      if (by_mass) atomicAdd(&sh.masses[copy][b], weight(s, max_s));
    }
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += kThreads)
      for (int c = 1; c < kCopies; ++c) sh.counts[0][b] += sh.counts[c][b], sh.masses[0][b] += sh.masses[c][b];
    __syncthreads();
    if (threadIdx.x < 32) {
      if (by_mass)
        radix::find_bin<double>(sh.masses[0], need, &sh.bin, &sh.mass_above);
      else
        radix::find_bin<uint32_t>(sh.counts[0], static_cast<uint32_t>(need), &sh.bin, &sh.count_above);
    }
    __syncthreads();
    if (threadIdx.x == 0 && by_mass) {  // how many keys the bins above hold
      uint32_t above = 0;
      for (uint32_t b = 255; b > sh.bin; --b) above += sh.counts[0][b];
      sh.count_above = above;
    }
    __syncthreads();
    need -= by_mass ? sh.mass_above : static_cast<double>(sh.count_above);
    count_above += sh.count_above;
    prefix |= sh.bin << shift;
    mask |= 255u << shift;
    __syncthreads();
  }
  Prefix p;
  p.threshold = prefix;
  const uint32_t equal = sh.counts[0][sh.bin];
  if (by_mass) {
    const uint32_t bits = prefix ^ ((prefix >> 31) ? 0x80000000u : 0xffffffffu);  // back to the float
    const double each = weight(__uint_as_float(bits), max_s);
    const double wanted = need > 0 && each > 0 ? ceil(need / each) : 1.0;
    p.quota = static_cast<uint32_t>(fmin(fmax(wanted, 1.0), static_cast<double>(equal)));
  } else {
    p.quota = static_cast<uint32_t>(need);
  }
  p.size = count_above + p.quota;
  __syncthreads();  // the histograms are reused by the caller's next selection
  return p;
}

__global__ void __launch_bounds__(kThreads) sample_kernel(Args a) {
  __shared__ Shared sh;
  const int64_t row = blockIdx.x, bytes = (a.vocab + 7) / 8;
  const float* x = a.logits + row * a.vocab;
  uint8_t* bits = a.bits + row * bytes;
  const bool greedy = a.spec.temperature == 0.f;

  MaxAt local{-INFINITY, INT64_MAX};
  for (int64_t i = threadIdx.x; i < a.n; i += kThreads) local = MaxAtOp()(local, {greedy ? x[i] : scaled(a, x, i), i});
  const MaxAt best = cub::BlockReduce<MaxAt, kThreads>(sh.cub.max_at).Reduce(local, MaxAtOp());
  if (threadIdx.x == 0) sh.best = best;
  __syncthreads();
  if (greedy) {
    const int64_t token = sh.best.id == INT64_MAX ? 0 : sh.best.id;
    for (int64_t j = threadIdx.x; j < bytes; j += kThreads)
      bits[j] = j == token / 8 ? static_cast<uint8_t>(1u << (token % 8)) : 0;
    if (threadIdx.x == 0) a.tokens[row] = token, a.logprobs[row] = 0.f;
    return;
  }
  const float max_s = sh.best.value;

  double z = 0;
  int count = 0;
  for (int64_t i = threadIdx.x; i < a.n; i += kThreads) {
    const float s = scaled(a, x, i);
    if (!present(order_key(s))) continue;
    z += weight(s, max_s);
    ++count;
  }
  z = cub::BlockReduce<double, kThreads>(sh.cub.sum).Sum(z);
  __syncthreads();
  count = cub::BlockReduce<int, kThreads>(sh.cub.count).Sum(count);
  if (threadIdx.x == 0) sh.z = z, sh.present = count;
  __syncthreads();

  Prefix kept;  // every present value
  kept.size = static_cast<uint32_t>(sh.present);
  if (a.spec.top_k > 0 && a.spec.top_k < sh.present)
    kept = radix_prefix(a, x, max_s, static_cast<float>(a.spec.top_k), false, sh);
  if (a.spec.top_p > 0.f && a.spec.top_p < 1.f && sh.present > 0) {
    const Prefix nucleus = radix_prefix(a, x, max_s, static_cast<double>(a.spec.top_p) * sh.z, true, sh);
    if (nucleus.size < kept.size) kept = nucleus;  // both are prefixes of one order: the shorter is the intersection
  }

  // Ordered pass: contiguous ranges of whole bytes, scans for the equal-key quota and for the kept mass.
  const int64_t per_thread = ((a.vocab + kThreads - 1) / kThreads + 7) / 8 * 8;
  const int64_t lo = min(a.vocab, threadIdx.x * per_thread), hi = min(a.vocab, lo + per_thread);
  const int64_t end = min(hi, a.n);
  int equal = 0;
  for (int64_t i = lo; i < end; ++i) equal += order_key(scaled(a, x, i)) == kept.threshold;
  int equal_before;
  cub::BlockScan<int, kThreads>(sh.cub.scan_int).ExclusiveSum(equal, equal_before);
  __syncthreads();
  auto keeps = [&](int64_t i, uint32_t& equal_seen) {
    if (i >= a.n) return false;
    const uint32_t key = order_key(scaled(a, x, i));
    if (!present(key) || key < kept.threshold) return false;
    return key > kept.threshold || equal_seen++ < kept.quota;
  };
  double mass = 0;
  uint32_t seen = static_cast<uint32_t>(equal_before);
  for (int64_t j = lo; j < hi; j += 8) {
    uint8_t byte = 0;
    for (int64_t i = j; i < min(hi, j + 8); ++i)
      if (keeps(i, seen)) {
        byte |= static_cast<uint8_t>(1u << (i - j));
        mass += weight(scaled(a, x, i), max_s);
      }
    bits[j / 8] = byte;
  }
  double mass_before, total;
  cub::BlockScan<double, kThreads>(sh.cub.scan_double).ExclusiveSum(mass, mass_before, total);
  if (total <= 0.0) {
    if (threadIdx.x == 0) a.tokens[row] = 0, a.logprobs[row] = -INFINITY;
    return;
  }
  const double u = fmin(fmax(a.uniforms[row], 0.0), 1.0 - 1e-12);
  const double target = u * total;
  // Exactly one thread draws: the first whose range holds the target, or, should rounding leave the target in no
  // range, the last one holding kept mass (the reference then takes the last kept id too).
  const bool holds = mass > 0.0 && mass_before <= target && target < mass_before + mass;
  __syncthreads();
  const int first_holder = cub::BlockReduce<int, kThreads>(sh.cub.count).Reduce(holds ? int(threadIdx.x) : kThreads,
                                                                                 MinInt());
  __syncthreads();
  const int last_with_mass = cub::BlockReduce<int, kThreads>(sh.cub.count).Reduce(mass > 0.0 ? int(threadIdx.x) : -1,
                                                                                   MaxInt());
  if (threadIdx.x == 0) sh.drawer = first_holder < kThreads ? first_holder : last_with_mass;
  __syncthreads();
  if (static_cast<int>(threadIdx.x) != sh.drawer) return;
  double running = mass_before;
  seen = static_cast<uint32_t>(equal_before);
  int64_t token = -1;
  for (int64_t i = lo; i < hi; ++i) {
    if (!keeps(i, seen)) continue;
    token = i;
    running += weight(scaled(a, x, i), max_s);
    if (running > target) break;
  }
  a.tokens[row] = token;
  a.logprobs[row] = scaled(a, x, token) - max_s - static_cast<float>(log(total));
}

}  // namespace

cudaError_t sample_cuda(const float* logits, const double* uniforms, int64_t rows, int64_t vocab,
                        const SamplingSpec& spec, int64_t* tokens, float* logprobs, uint8_t* kept_bits,
                        cudaStream_t stream) {
  if (rows < 0 || rows > 0x7fffffff || vocab <= 0 || spec.temperature < 0 || spec.top_k < 0 || spec.top_p < 0 ||
      spec.top_p > 1)
    return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  const int64_t n = spec.vocab_limit > 0 ? (spec.vocab_limit < vocab ? spec.vocab_limit : vocab) : vocab;
  const Args a{logits, uniforms, vocab, n, spec, tokens, logprobs, kept_bits};
  sample_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace dsrl::kernels
