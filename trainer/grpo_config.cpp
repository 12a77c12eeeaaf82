#include "trainer/grpo_config.h"

#include <fmt/ranges.h>

#include <algorithm>

#include "agent/records.h"
#include "common/config.h"

namespace dsrl {

void describe(ConfigIO& io, GrpoTaskConfig& c) {
  io.field("task_type", c.task_type);
  io.field("weight", c.weight, 0.0, 1e9);
  io.section("synthetic", c.synthetic);
  io.field("path", c.path);
  io.field("prompt_field", c.prompt_field);
  io.field("answer_field", c.answer_field);
  io.field("rubric_field", c.rubric_field);
  io.field("files_field", c.files_field);
  io.field("kl_beta", c.kl_beta, -1.0, 1e6);
  if (io.reading() && c.synthetic.task.empty() == c.path.empty())
    io.fail("path", "a task needs exactly one of synthetic.task (a built-in generator) and path (a JSONL file)");
}

void describe(ConfigIO& io, GrpoAgentConfig& c) {
  io.field("enabled", c.enabled);
  io.field("tools", c.tools);
  io.field("corpus", c.corpus);
  io.field("system_prompt", c.system_prompt);
  io.field("search_results", c.search_results, int64_t{1}, int64_t{1000});
  io.field("open_max_bytes", c.open_max_bytes, int64_t{1}, int64_t{1} << 30);
  AgentConfig& l = c.loop;
  io.field("max_turns", l.max_turns, int64_t{1}, int64_t{1000});
  io.field("context_window", l.context_window, int64_t{2}, int64_t{1} << 30);
  io.field("max_new_tokens", l.max_new_tokens, int64_t{1}, int64_t{1} << 24);
  io.field("max_tool_result_bytes", l.max_tool_result_bytes, int64_t{1}, int64_t{1} << 30);
  io.choice("context_policy", l.context_policy, {"none", "summary", "discard_75", "discard_all"});
  io.field("context_trigger", l.context_trigger, 0.01, 1.0);
  io.field("max_resets", l.max_resets, int64_t{0}, int64_t{1000});
  io.field("thinking", l.thinking);
  io.field("summary_request", l.summary_request);
  io.field("tools_preamble", l.tools_preamble);
  io.section("python", c.python);
  if (!io.reading() || !c.enabled) return;
  static const std::vector<std::string> known = {"calculator", "python", "search", "open", "workspace", "records"};
  const auto uses = [&](const std::string& tool) { return std::count(c.tools.begin(), c.tools.end(), tool) > 0; };
  for (const auto& t : c.tools)
    if (std::find(known.begin(), known.end(), t) == known.end())
      io.fail("tools", fmt::format("unknown tool '{}' (known: {})", t, fmt::join(known, ", ")));
  if ((uses("search") || uses("open")) && c.corpus.empty())
    io.fail("corpus", "the search and open tools need a corpus (a JSONL file of {id, title, text})");
}

void describe(ConfigIO& io, SynthConfig& c) {
  io.choice("environment", c.environment, {"records"});
  io.field("task_type", c.task_type);
  io.field("tasks", c.tasks, int64_t{0}, int64_t{1000000});
  io.field("policy_tasks", c.policy_tasks, int64_t{0}, int64_t{1000000});
  io.field("proposal_max_new_tokens", c.proposal_max_new_tokens, int64_t{1}, int64_t{1} << 20);
  io.field("start_difficulty", c.start_difficulty, 1, kRecordsMaxDifficulty);
  io.field("max_difficulty", c.max_difficulty, 1, kRecordsMaxDifficulty);
  io.field("k", c.k, int64_t{1}, int64_t{100000});
  io.field("pass_threshold", c.pass_threshold, -1e9, 1e9);
  io.field("max_pass_rate", c.max_pass_rate, 0.0, 1.0);
  io.field("raise_difficulty", c.raise_difficulty);
  io.field("tasks_per_batch", c.tasks_per_batch, int64_t{1}, int64_t{1000000});
  io.field("seed", c.seed);
  io.field("out", c.out);
  if (io.reading() && c.tasks + c.policy_tasks == 0)
    io.fail("tasks", "stage synthesize needs candidates: tasks (from templates) or policy_tasks (written by the "
                     "policy) above 0");
  if (io.reading() && c.max_difficulty < c.start_difficulty)
    io.fail("max_difficulty", fmt::format("must be >= start_difficulty ({}), got {}", c.start_difficulty,
                                          c.max_difficulty));
}

void describe(ConfigIO& io, RefineConfig& c) {
  io.field("tasks", c.tasks);
  io.field("problem_field", c.problem_field);
  io.field("answer_field", c.answer_field);
  io.field("problems", c.problems, int64_t{1}, int64_t{1000000});
  io.field("rounds", c.rounds, int64_t{1}, int64_t{100});
  io.field("k", c.k, int64_t{1}, int64_t{10000});
  io.field("verifications", c.verifications, int64_t{1}, int64_t{1000});
  io.field("stop_at_full_score", c.stop_at_full_score);
  io.field("task_type", c.task_type);
  io.field("score_signal", c.score_signal);
  io.field("verifier_task_type", c.verifier_task_type);
  io.field("generator_prompt", c.generator_prompt);
  io.field("verifier_prompt", c.verifier_prompt);
  io.field("revision_prompt", c.revision_prompt);
  io.field("evaluation_marker", c.evaluation_marker);
  io.field("score_marker", c.score_marker);
  io.field("out", c.out);
  if (!io.reading()) return;
  auto needs = [&](const char* key, const std::string& prompt, std::vector<const char*> fields) {
    for (const char* f : fields)
      if (prompt.find(f) == std::string::npos) io.fail(key, fmt::format("must contain {}", f));
  };
  needs("generator_prompt", c.generator_prompt, {"{problem}"});
  needs("verifier_prompt", c.verifier_prompt, {"{problem}", "{proof}"});
  needs("revision_prompt", c.revision_prompt, {"{problem}", "{proof}", "{analysis}"});
  if (c.evaluation_marker.empty()) io.fail("evaluation_marker", "must not be empty");
  if (c.score_marker.empty()) io.fail("score_marker", "must not be empty");
}

void describe(ConfigIO& io, GrpoConfig& c) {
  io.field("rollout_endpoints", c.rollout_endpoints);
  io.field("reward_endpoint", c.reward_endpoint);
  io.list("tasks", c.tasks);
  io.field("seed", c.seed);
  io.field("prompts_per_step", c.prompts_per_step, int64_t{1}, int64_t{1} << 20);
  io.field("samples_per_prompt", c.samples_per_prompt, int64_t{1}, int64_t{1} << 16);
  io.field("temperature", c.temperature, 1e-3, 100.0);
  io.field("top_p", c.top_p, 0.0, 1.0);
  io.field("top_k", c.top_k, int64_t{0}, int64_t{1} << 30);
  io.field("max_new_tokens", c.max_new_tokens, int64_t{1}, int64_t{1} << 24);
  io.field("std_normalize", c.std_normalize);
  io.choice("zero_variance", c.zero_variance, {"skip", "keep"});
  io.field("eps_low", c.eps_low, 0.0, 1.0);
  io.field("eps_high", c.eps_high, 0.0, 100.0);
  io.choice("kl_estimator", c.kl_estimator, {"k3", "unbiased_k3"});
  io.field("kl_beta", c.kl_beta, 0.0, 1e6);
  io.field("off_policy_mask", c.off_policy_mask);
  io.field("off_policy_delta", c.off_policy_delta, 0.0, 1e6);
  io.field("keep_routing", c.keep_routing);
  io.field("keep_sampling_mask", c.keep_sampling_mask);
  io.choice("pi_old", c.pi_old, {"rollout", "recompute"});
  io.field("updates_per_batch", c.updates_per_batch, int64_t{1}, int64_t{1} << 20);
  io.field("tokens_per_micro_batch", c.tokens_per_micro_batch, int64_t{1}, int64_t{1} << 40);
  io.field("overlap_rollouts", c.overlap_rollouts);
  io.field("eval_every", c.eval_every, int64_t{0}, int64_t{1} << 40);
  io.field("eval_prompts", c.eval_prompts, int64_t{0}, int64_t{1} << 20);
  io.field("eval_samples", c.eval_samples, int64_t{1}, int64_t{1} << 16);
  io.field("eval_temperature", c.eval_temperature, 0.0, 100.0);
  io.field("eval_threshold", c.eval_threshold, -1e9, 1e9);
  io.field("rollout_deadline_s", c.rollout_deadline_s, 1e-3, 1e7);
  io.field("reward_deadline_s", c.reward_deadline_s, 1e-3, 1e7);
  io.field("retries", c.retries, int64_t{0}, int64_t{100});
  io.section("agent", c.agent);
  if (!io.reading()) return;
  if (c.tasks.empty()) io.fail("tasks", "needs at least one task");
  double total = 0;
  for (const auto& t : c.tasks) total += t.weight;
  if (total <= 0) io.fail("tasks", "the task weights sum to 0: give at least one a positive weight");
  if (c.samples_per_prompt < 2)
    io.fail("samples_per_prompt", fmt::format("group advantages need at least 2 samples per prompt, got {}",
                                              c.samples_per_prompt));
}

double kl_beta_of(const GrpoConfig& c, const GrpoTaskConfig& task) {
  return task.kl_beta >= 0 ? task.kl_beta : c.kl_beta;
}

bool needs_reference(const GrpoConfig& c) {
  for (const auto& t : c.tasks)
    if (kl_beta_of(c, t) > 0) return true;
  return false;
}

}  // namespace dsrl
