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
  EXPECT_NE(error("stage: distill").find("t.yaml:1: stage must be one of [preflight, lm, dense_warmup, sparse, "
                                        "grpo, synthesize, refine], got 'distill'"), std::string::npos);
  EXPECT_NE(error("stage: synthesize").find("model needs model.checkpoint"), std::string::npos);
  EXPECT_EQ(error("stage: synthesize\nmodel: {config: m.yaml}"), "") << "its data comes from synth:, not data:";
  EXPECT_NE(error("stage: synthesize\nmodel: {config: m.yaml}\nsynth: {start_difficulty: 3, max_difficulty: 2}")
                .find("synth.max_difficulty must be >= start_difficulty (3), got 2"),
            std::string::npos);
  EXPECT_NE(error("stage: synthesize\nmodel: {config: m.yaml}\nsynth: {tasks: 0}").find("synth.tasks stage synthesize "
                                                                                       "needs candidates"),
            std::string::npos);
  EXPECT_EQ(error("stage: synthesize\nmodel: {config: m.yaml}\nsynth: {tasks: 0, policy_tasks: 4}"), "");
  const std::string refine = "stage: refine\nmodel: {config: m.yaml}\n";
  EXPECT_NE(error(refine).find("refine.tasks stage refine needs a JSONL file of problems"), std::string::npos)
      << error(refine);
  EXPECT_EQ(error(refine + "refine: {tasks: p.jsonl}"), "");
  EXPECT_NE(error(refine + "refine: {tasks: p.jsonl, revision_prompt: 'fix {proof} of {problem}'}")
                .find("refine.revision_prompt must contain {analysis}"),
            std::string::npos);
  EXPECT_NE(error(refine + "refine: {tasks: p.jsonl, k: 0}").find("refine.k"), std::string::npos);
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

TEST(TrainConfig, GrpoSection) {
  const std::string base = "stage: grpo\nmodel: {config: m.yaml}\n";
  TrainConfig c = parse_config<TrainConfig>(
      YAML::Load(base + "grpo:\n  tasks:\n    - {task_type: math, path: m.jsonl, kl_beta: 0}\n"
                        "    - {task_type: arithmetic, synthetic: {task: arithmetic}, weight: 3}\n  kl_beta: 0.1\n"),
      "t.yaml");
  ASSERT_EQ(c.grpo.tasks.size(), 2u);
  EXPECT_EQ(kl_beta_of(c.grpo, c.grpo.tasks[0]), 0.0) << "a domain that drops the KL";
  EXPECT_EQ(kl_beta_of(c.grpo, c.grpo.tasks[1]), 0.1) << "the default";
  EXPECT_TRUE(needs_reference(c.grpo));
  EXPECT_TRUE(sparse_attention(c)) << "grpo samples and trains with top-k attention";
  EXPECT_NE(error(base + "grpo: {tasks: [{task_type: x}]}").find("a task needs exactly one of synthetic.task"),
            std::string::npos);
  EXPECT_NE(error(base + "grpo: {samples_per_prompt: 1}").find("group advantages need at least 2 samples"),
            std::string::npos);
  EXPECT_NE(error(base + "grpo: {kl_estimator: k2}").find("grpo.kl_estimator must be one of [k3, unbiased_k3]"),
            std::string::npos);
  EXPECT_NE(error(base + "grpo: {pi_old: fresh}").find("grpo.pi_old must be one of [rollout, recompute]"),
            std::string::npos);
  EXPECT_NE(error(base + "grpo: {tasks: [{synthetic: {task: copy}, weight: 0}]}").find("task weights sum to 0"),
            std::string::npos);
  // Agent rollouts: the tools must be known, search/open need a corpus, the policy must be one of four.
  EXPECT_NE(error(base + "grpo: {agent: {enabled: true, tools: [browser]}}").find("unknown tool 'browser'"),
            std::string::npos);
  EXPECT_NE(error(base + "grpo: {agent: {enabled: true, tools: [search]}}").find("grpo.agent.corpus"),
            std::string::npos);
  EXPECT_NE(error(base + "grpo: {agent: {context_policy: forget}}").find("grpo.agent.context_policy must be one of"),
            std::string::npos);
  const TrainConfig a = parse_config<TrainConfig>(
      YAML::Load(base + "grpo: {agent: {enabled: true, tools: [calculator], max_turns: 3, python: {memory_mb: 256}}}"),
      "t.yaml");
  EXPECT_TRUE(a.grpo.agent.enabled);
  EXPECT_EQ(a.grpo.agent.loop.max_turns, 3);
  EXPECT_EQ(a.grpo.agent.python.limits.memory_mb, 256);
}

}  // namespace
}  // namespace dsrl
