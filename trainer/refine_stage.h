// Stage refine (docs/proofs.md): DeepSeekMath-V2's sequential refinement, as an evaluation on rank 0 through the
// rollout workers and the reward service (refine: in the config, grpo: for endpoints and sampling). Each problem
// gets k chains; in round 1 each chain writes a proof with a self-analysis, the policy verifies every new proof,
// and in each later round the chains not yet verified at full score revise their proof given the most critical
// analysis. Per round: Pass@1 and Best@k, printed as a table. Other ranks have nothing to do and return.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/config.h"

namespace dsrl {

// One refinement chain of a problem: its newest proof and what was found about it.
struct RefineChain {
  std::string response;         // the generator's output (proof and self-analysis)
  std::string proof;            // the proof Y in it
  std::string error;            // the proof could not be generated or scored (true score counts as 0)
  double true_score = 0;        // the reward's score_signal: R_Y
  double verifier_score = 0;    // mean of the verifications' scores (a broken analysis scores 0)
  std::vector<double> verdicts; // each verification's score
  std::string critique;         // the lowest-scored verification's analysis (the next revision reads it)
  double agreement = -1;        // mean verifier reward (1 - |s' - R_Y|) over the scored verifications; -1: none
  int64_t revisions = 0;        // how many times this chain revised its proof
};

struct RefineRound {
  int64_t round = 0;            // 1-based
  int64_t revised = 0;          // chains that wrote a new proof this round (round 1: all)
  double pass_at_1 = 0;         // mean true score over every chain's proof
  double best_at_k = 0;         // mean over problems of the true score of the proof verified highest (first wins)
  double verifier_score = 0;    // mean verifier score over the chains
  double agreement = -1;        // mean verifier agreement over the chains that have one; -1: none
  int64_t unscored = 0;         // chains whose proof has no true score
};

// The round's numbers over chains[problem][chain].
RefineRound summarize_round(const std::vector<std::vector<RefineChain>>& chains, int64_t round, int64_t revised);

// The table stage refine prints: one row per round.
std::string refine_table(const std::vector<RefineRound>& rounds, int64_t k);

int run_refine_stage(const TrainConfig& config, int rank, const std::string& run_dir);

}  // namespace dsrl
