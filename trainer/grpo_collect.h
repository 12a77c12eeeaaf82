// Rank 0's half of a GRPO step (torch-free, library dsrl_trainer_rpc): draw prompts, get G samples of each from
// the rollout workers (with grpo.agent: G agent trajectories, tools run here), score them on the reward service,
// and turn rewards into group advantages. Also the held-out evaluation. The samples it returns are what every rank
// trains on.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "trainer/grpo_config.h"
#include "trainer/grpo_data.h"
#include "trainer/reward_client.h"
#include "trainer/rollout_pool.h"

namespace dsrl {

class Tokenizer;

// Agent rollouts (grpo.agent.enabled): means over the trajectories.
struct AgentStats {
  int64_t trajectories = 0;
  double turns = 0;        // model turns per trajectory (the steps the table reports)
  double tool_calls = 0;   // per trajectory
  double tool_errors = 0;  // per trajectory (malformed calls, unknown tools, failing tools)
  double resets = 0;       // context resets per trajectory
  double contexts = 0;     // trained sequences per trajectory (resets + 1, less any empty one)
  double answered = 0;     // share that ended with an answer (no tool call)
  double context_full = 0; // share that ran out of window (or resets)
  double errors = 0;       // share that ended on an error (not trained, not scored; first one in CollectStats)
};

struct CollectStats {
  int64_t samples = 0;            // generated
  int64_t scored = 0;             // with a reward (the others had a reward error and are dropped)
  int64_t trained = 0;            // handed to training
  int64_t groups = 0, zero_variance_groups = 0, dropped_groups = 0;  // dropped: fewer than 2 scored samples
  double reward_mean = 0;         // over the scored samples
  std::map<std::string, double> signal_means;  // each reward signal, over the samples that report it
  double length_mean = 0;         // response tokens
  double stopped_share = 0;       // samples that ended with the stop token
  int64_t generated_tokens = 0;
  uint64_t oldest_version = 0;    // the oldest policy version that generated a sample
  uint64_t version_gap = 0;       // the trainer's policy version minus oldest_version (set by the stage)
  double rollout_s = 0, reward_s = 0;
  std::string first_reward_error; // for the log when some were dropped
  AgentStats agent;
  // Agent rollouts: one JSON line per trajectory (step, prompt, sample, turns, tool calls and errors, resets,
  // contexts, finish, reward, the answer's start), for <run_dir>/agent_trajectories.jsonl.
  std::vector<std::string> trajectory_lines;
};

struct EvalStats {
  int64_t answers = 0;
  double accuracy = 0;            // share of answers with total reward >= eval_threshold
  double reward_mean = 0;
  double length_mean = 0;
  AgentStats agent;
};

// How often the policy solved one prompt (pass_counts).
struct PassCount {
  int64_t passes = 0;            // samples whose total reward reached the threshold
  int64_t scored = 0;            // samples with a reward (the others had a rollout or reward error)
  std::vector<double> rewards;   // per scored sample
  std::vector<std::string> answers;  // the first 3 samples' answers, each cut to 200 bytes (for the record)
  std::string first_error;       // of an unscored sample
};

// One answer to a prompt and its reward (scored_answers).
struct ScoredAnswer {
  std::string response;
  RewardResult reward;  // reward.error: the answer could not be generated or scored
};

// Rollouts sample only ids the tokenizer can decode: a model whose embedding is padded past its tokenizer
// (DeepSeek-V3's 129,280 rows, a random model with the byte tokenizer) gets a vocab limit; 0 when none is needed.
// Throws ConfigError when the tokenizer has more ids than the model embeds.
int64_t sampling_vocab_limit(const std::string& tokenizer, int64_t model_vocab);

class GrpoCollector {
 public:
  // vocab_limit: rollouts sample only ids below it (0: the whole vocabulary).
  GrpoCollector(const GrpoConfig& config, const std::string& tokenizer, int64_t vocab_limit);
  ~GrpoCollector();
  // One step's samples: prompts_per_step x samples_per_prompt generated, scored, with advantages and KL weights.
  std::vector<GrpoSample> collect(PromptMixture& prompts, int64_t step, uint64_t version, bool keep_mask,
                                  bool keep_routing, CollectStats* stats);
  EvalStats evaluate(const std::vector<GrpoPrompt>& prompts);
  // k samples of each prompt at grpo.temperature (agent trajectories with grpo.agent), scored; a sample passes when
  // its total reward is at least `threshold` (stage synthesize's pass@k).
  std::vector<PassCount> pass_counts(const std::vector<GrpoPrompt>& prompts, int64_t k, double threshold,
                                     uint64_t seed, AgentStats* stats);
  // per_prompt plain completions of each prompt at `temperature`, up to max_new_tokens (no tools, even with
  // grpo.agent), prompt-major, without their stop token (stage synthesize's policy-written tasks).
  std::vector<std::string> completion_texts(const std::vector<GrpoPrompt>& prompts, int64_t per_prompt,
                                            double temperature, int64_t max_new_tokens, uint64_t seed);
  // per_prompt answers to each prompt at `temperature` (completions, or agent trajectories with grpo.agent), each
  // scored with its prompt's task type and answer; prompt-major order (stages refine and synthesize). stats: the
  // agent trajectories' means, when wanted.
  std::vector<ScoredAnswer> scored_answers(const std::vector<GrpoPrompt>& prompts, int64_t per_prompt,
                                           double temperature, uint64_t seed, AgentStats* stats = nullptr);
  RolloutPool& pool() { return pool_; }

 private:
  // One of a prompt's answers: the text the reward scores and the sequences trained with its advantage.
  struct Episode {
    std::string response;              // what the reward service scores
    int64_t response_tokens = 0;       // tokens the policy generated for it
    bool stopped = false;
    uint64_t oldest_version = 0;
    std::vector<GrpoSample> pieces;    // one, or one per context of an agent trajectory (advantage unset)
    std::string error;                 // an agent trajectory that ended on an error: dropped like a reward error
    std::string agent_log;             // an agent trajectory's account as a JSON object (reward added later)
    std::map<std::string, std::string> files;  // the workspace tool's repository at the end (code tasks)
  };
  struct Sampling {
    double temperature = 1;
    int64_t per_prompt = 1;
    uint64_t seed = 0;
    bool record_mask = false, record_routing = false;
    int64_t max_new_tokens = 0;  // 0: grpo.max_new_tokens
  };

  std::vector<Episode> completions(const std::vector<GrpoPrompt>& prompts, const Sampling& s);
  std::vector<Episode> trajectories(const std::vector<GrpoPrompt>& prompts, const Sampling& s, AgentStats* stats);
  std::vector<Episode> episodes(const std::vector<GrpoPrompt>& prompts, const Sampling& s, AgentStats* stats);
  RolloutRequest request(const Sampling& s) const;
  std::vector<RewardResult> score(const std::vector<GrpoPrompt>& prompts, const std::vector<Episode>& episodes,
                                  int64_t per_prompt);
  struct Toolbox;

  const GrpoConfig& config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<int64_t> stop_ids_;
  int64_t vocab_limit_;
  RolloutPool pool_;
  RewardClient reward_;
  std::unique_ptr<Toolbox> tools_;  // agent rollouts: the corpus index and the tool registry
};

}  // namespace dsrl
