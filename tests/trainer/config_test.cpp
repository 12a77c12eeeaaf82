#include "trainer/config.h"

#include <gtest/gtest.h>

#include "common/config.h"

namespace dsrl {
namespace {

std::string error(const std::string& yaml) {
  try {
    parse_config<TrainConfig>(YAML::Load(yaml), "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainConfig, DefaultsAndPreflightKeys) {
  TrainConfig c = parse_config<TrainConfig>(
      YAML::Load("preflight: {rollout_endpoints: [127.0.0.1:1], allreduce_mb: 2}"), "t.yaml");
  EXPECT_EQ(c.stage, "preflight");
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.preflight.rollout_endpoints, std::vector<std::string>{"127.0.0.1:1"});
  EXPECT_EQ(c.preflight.allreduce_mb, 2);
}

TEST(TrainConfig, RejectsUnbuiltStagesAndBadValues) {
  EXPECT_NE(error("stage: grpo").find("t.yaml:1: stage must be one of [preflight, lm, dense_warmup, sparse], got 'grpo'"), std::string::npos);
  EXPECT_NE(error("stage: lm\ndata: {synthetic: {task: copy}}").find("model needs model.checkpoint"), std::string::npos);
  EXPECT_NE(error("stage: lm\nmodel: {config: m.yaml}").find("data needs data.sources or data.synthetic.task"),
            std::string::npos);
  EXPECT_NE(error("stage: lm\nmodel: {config: m.yaml}\ndata: {synthetic: {task: copy}}\noptim: {lr: 1e-4, min_lr: 1e-3}")
                .find("optim.min_lr must be <= lr"),
            std::string::npos);
  EXPECT_EQ(error("stage: lm\nmodel: {config: m.yaml}\ndata: {synthetic: {task: copy}}"), "");
  const std::string indexer_stage = "model: {config: m.yaml}\ndata: {synthetic: {task: copy}}\n";
  EXPECT_NE(error("stage: dense_warmup\nattention: sparse\n" + indexer_stage).find("dense_warmup trains the indexer "
                                                                                  "against dense attention"),
            std::string::npos);
  EXPECT_NE(error("stage: sparse\nattention: dense\n" + indexer_stage).find("stage sparse is top-k attention"),
            std::string::npos);
  EXPECT_NE(error("stage: sparse\nindexer: {lr: -1}\n" + indexer_stage).find("indexer.lr must be in"), std::string::npos);
  EXPECT_NE(error("device: tpu").find("device must be one of [cpu, cuda], got 'tpu'"), std::string::npos);
  EXPECT_NE(error("preflight:\n  deadline_s: 0").find("t.yaml:2: preflight.deadline_s must be in"), std::string::npos);
  EXPECT_NE(error("log: {level: loud}").find("log.level must be one of [trace, debug, info, warn, error, off]"),
            std::string::npos);
}

}  // namespace
}  // namespace dsrl
