// Stage refine's numbers: Pass@1 and Best@k over hand-made chains (the verifier's pick, ties, unscored proofs),
// and the printed table.
#include <gtest/gtest.h>

#include "trainer/refine_stage.h"

namespace dsrl {
namespace {

RefineChain chain(double truth, double verified, double agreement = -1, const std::string& error = "") {
  RefineChain c;
  c.true_score = truth;
  c.verifier_score = verified;
  c.agreement = agreement;
  c.error = error;
  return c;
}

TEST(Refine, PassAtOneAndBestAtKFollowTheVerifiersPick) {
  const std::vector<std::vector<RefineChain>> chains = {
      {chain(0, 0.5, 0.5), chain(1, 1, 1), chain(0.5, 1, 0.5)},  // best: the first verified at 1 (true 1)
      {chain(1, 0), chain(0, 0.5, 0.5), chain(0.5, 0)},          // best: 0.5 verified, true 0 (the verifier is wrong)
      {chain(1, 1, 1, "reward down"), chain(0.5, 0.5), chain(0, 0)},  // best: verified 1 but unscored: counts 0
  };
  const RefineRound r = summarize_round(chains, 2, 5);
  EXPECT_EQ(r.round, 2);
  EXPECT_EQ(r.revised, 5);
  EXPECT_DOUBLE_EQ(r.pass_at_1, (0 + 1 + 0.5 + 1 + 0 + 0.5 + 0 + 0.5 + 0) / 9.0) << "an unscored proof counts 0";
  EXPECT_DOUBLE_EQ(r.best_at_k, (1 + 0 + 0) / 3.0);
  EXPECT_DOUBLE_EQ(r.verifier_score, (0.5 + 1 + 1 + 0 + 0.5 + 0 + 1 + 0.5 + 0) / 9.0);
  EXPECT_DOUBLE_EQ(r.agreement, (0.5 + 1 + 0.5 + 0.5 + 1) / 5.0) << "over the chains that have one";
  EXPECT_EQ(r.unscored, 1);
  EXPECT_EQ(summarize_round({{chain(1, 0)}}, 1, 1).agreement, -1) << "none";
}

TEST(Refine, TablePrintsOneRowPerRound) {
  RefineRound a, b;
  a.round = 1, a.revised = 24, a.pass_at_1 = 0.25, a.best_at_k = 0.5, a.verifier_score = 0.75, a.agreement = 0.8;
  b.round = 2, b.revised = 10, b.pass_at_1 = 0.375, b.best_at_k = 0.625, b.unscored = 2;
  EXPECT_EQ(refine_table({a, b}, 8),
            "round  revised   pass@1    best@8  verified  agreement  unscored\n"
            "    1       24    0.250     0.500     0.750      0.800         0\n"
            "    2       10    0.375     0.625     0.000          -         2\n");
}

}  // namespace
}  // namespace dsrl
