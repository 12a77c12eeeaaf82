#include "agent/compute_tasks.h"

#include <fmt/format.h>

#include <random>

#include "common/error.h"

namespace dsrl {
namespace {

constexpr const char* kAsk = " Use the python tool, then end your reply with a line 'Answer: <number>'.";

ComputeTask prime_sum(std::mt19937_64& rng) {
  const int64_t n = 1000 + static_cast<int64_t>(rng() % 99000);
  std::vector<bool> composite(static_cast<size_t>(n), false);
  int64_t sum = 0;
  for (int64_t i = 2; i < n; ++i) {
    if (composite[i]) continue;
    sum += i;
    for (int64_t j = i * i; j < n; j += i) composite[j] = true;
  }
  return {fmt::format("What is the sum of all primes below {}?{}", n, kAsk), std::to_string(sum),
          fmt::format("n = {}\nsieve = [True] * n\nsieve[0] = sieve[1] = False\nfor i in range(2, int(n ** 0.5) + 1):\n"
                      "    if sieve[i]:\n        sieve[i * i::i] = [False] * len(sieve[i * i::i])\n"
                      "print(sum(i for i in range(n) if sieve[i]))\n", n),
          "prime_sum"};
}

ComputeTask fibonacci_mod(std::mt19937_64& rng) {
  const int64_t n = 100 + static_cast<int64_t>(rng() % 9900), m = 1000 + static_cast<int64_t>(rng() % 999000);
  int64_t a = 0, b = 1;  // F(0), F(1)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t next = (a + b) % m;
    a = b, b = next;
  }
  return {fmt::format("What is the {}-th Fibonacci number modulo {} (F(0) = 0, F(1) = 1)?{}", n, m, kAsk),
          std::to_string(a),
          fmt::format("a, b = 0, 1\nfor _ in range({}):\n    a, b = b, (a + b) % {}\nprint(a)\n", n, m),
          "fibonacci_mod"};
}

ComputeTask factorial_digit_sum(std::mt19937_64& rng) {
  const int k = 20 + static_cast<int>(rng() % 181);
  std::vector<int> digits = {1};  // little-endian decimal digits of k!
  for (int f = 2; f <= k; ++f) {
    int carry = 0;
    for (int& d : digits) {
      const int v = d * f + carry;
      d = v % 10;
      carry = v / 10;
    }
    for (; carry > 0; carry /= 10) digits.push_back(carry % 10);
  }
  int64_t sum = 0;
  for (int d : digits) sum += d;
  return {fmt::format("What is the sum of the decimal digits of {}! ({} factorial)?{}", k, k, kAsk),
          std::to_string(sum), fmt::format("import math\nprint(sum(int(c) for c in str(math.factorial({}))))\n", k),
          "factorial_digit_sum"};
}

ComputeTask divisor_count(std::mt19937_64& rng) {
  const int64_t n = 1000000 + static_cast<int64_t>(rng() % 999000000000LL);
  int64_t count = 0;
  for (int64_t d = 1; d * d <= n; ++d)
    if (n % d == 0) count += d * d == n ? 1 : 2;
  return {fmt::format("How many positive divisors does {} have?{}", n, kAsk), std::to_string(count),
          fmt::format("n = {}\nc = 0\nd = 1\nwhile d * d <= n:\n    if n % d == 0:\n        c += 1 if d * d == n else 2\n"
                      "    d += 1\nprint(c)\n", n),
          "divisor_count"};
}

}  // namespace

std::vector<ComputeTask> make_compute_tasks(int64_t count, uint64_t seed) {
  DSRL_CHECK(count >= 1 && count <= 100000, "compute tasks: count must be in [1, 100000], got {}", count);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 11);
  std::vector<ComputeTask> out;
  for (int64_t i = 0; i < count; ++i) {
    switch (i % 4) {
      case 0: out.push_back(prime_sum(rng)); break;
      case 1: out.push_back(fibonacci_mod(rng)); break;
      case 2: out.push_back(factorial_digit_sum(rng)); break;
      default: out.push_back(divisor_count(rng)); break;
    }
  }
  return out;
}

}  // namespace dsrl
