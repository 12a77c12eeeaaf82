// Code-interpreter tasks (torch-free): questions whose integer answers take a program to compute (sums of primes,
// Fibonacci numbers modulo m, digit sums of factorials, divisor counts), each with the answer computed here and a
// Python program that computes it (for the cold-start trajectories). The rule reward checks the final number.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsrl {

struct ComputeTask {
  std::string question;  // "What is the sum of all primes below 48211? ..."
  std::string answer;    // the integer, in decimal
  std::string program;   // Python 3 that prints the answer
  std::string family;    // prime_sum | fibonacci_mod | factorial_digit_sum | divisor_count
};

// `count` tasks cycling through the families, the same for the same seed. Throws dsrl::Error on count outside
// [1, 100000].
std::vector<ComputeTask> make_compute_tasks(int64_t count, uint64_t seed);

}  // namespace dsrl
