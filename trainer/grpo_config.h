// Stage grpo's config (the `grpo:` section; docs/grpo.md): where samples come from, how they are scored, and the
// loss with its four stabilisers, each a switch so researchers can ablate them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/derivations.h"
#include "agent/proof_format.h"
#include "agent/python_tool.h"
#include "trainer/data_config.h"

namespace dsrl {

class ConfigIO;

// One task of the prompt mixture: a built-in generator or a JSONL file of prompts with reference answers.
struct GrpoTaskConfig {
  std::string task_type = "arithmetic";  // the reward service's task type (its signals), and the KL domain
  double weight = 1;                     // share of each step's prompts
  SyntheticConfig synthetic;             // a built-in generator (synthetic.task), or
  std::string path;                      // a JSONL file: one object per line with the fields below
  std::string prompt_field = "prompt";   // the user message
  std::string answer_field = "answer";   // the reference answer (may be absent when no signal needs it)
  std::string rubric_field = "rubric";   // per-item judge rubric (optional)
  std::string files_field = "files";     // a code task's repository, {path: content} (optional; the workspace tool)
  double kl_beta = -1;                   // this domain's KL weight (the seeds weaken or drop it per domain);
                                         // < 0: grpo.kl_beta
};
void describe(ConfigIO& io, GrpoTaskConfig& c);

// Tool-using rollouts (grpo.agent; docs/agents.md): each sample is a trajectory of the agent loop
// (agent/loop.h) driven by rank 0 through the rollout workers, tools run on rank 0.
struct GrpoAgentConfig {
  bool enabled = false;
  // Of calculator, python, search, open; workspace: list_files, read_file, write_file and run_tests over the task's
  // files (files_field), one copy per trajectory, which the reward's code_tests signal then tests; records:
  // list_tables and query over the task's CSV files (agent/records.h).
  std::vector<std::string> tools = {"search", "open"};
  std::string corpus;              // JSONL {id, title, text} that search and open read (needed by them)
  std::string system_prompt;       // a system message before each task's user message ("": none)
  int64_t search_results = 5;      // most hits one search returns
  int64_t open_max_bytes = 4000;   // open cuts a document here
  AgentConfig loop;                // turns, window, per-turn tokens, context policy (its fields sit in grpo.agent)
  PythonToolConfig python;         // the python tool's interpreter and sandbox limits (grpo.agent.python)
};
void describe(ConfigIO& io, GrpoAgentConfig& c);

// Stage synthesize (docs/synthesis.md): candidate tasks from an environment's templates (and, with policy_tasks,
// written by the policy with a verifying program), each run k times by the
// policy the rollout workers serve (through grpo.agent's loop and tools) and scored by the reward service. Tasks
// solved at least once are kept (pass@k > 0, and at most max_pass_rate), the rest rejected; a task every sample
// solved gets a harder successor, tried in the next round.
struct SynthConfig {
  std::string environment = "records";  // the template family: records (agent/records.h, general agent)
  std::string task_type = "records";    // the reward service's task type that verifies the answers
  int64_t tasks = 32;                   // candidates from the templates in the first round
  // Candidates the policy writes in the first round: each is shown a new database (start_difficulty's size) and
  // writes a question with a Python program that answers it from the tables; the program, run in the sandbox of
  // grpo.agent.python, gives the answer (agent/records_proposals.h). Unreadable or failing proposals go to
  // <out>/proposals_invalid.jsonl.
  int64_t policy_tasks = 0;
  int64_t proposal_max_new_tokens = 600;  // the longest proposal (question and program) the policy may write
  int start_difficulty = 1;             // of the first round's candidates
  int max_difficulty = 3;               // successors stop here
  int64_t k = 100;                      // samples per task
  double pass_threshold = 1.0;          // a sample passes when its total reward is at least this
  double max_pass_rate = 1.0;           // keep only tasks solved by at most this share of samples (1: no bound)
  bool raise_difficulty = true;         // a task every sample solved gets a successor one difficulty up
  int64_t tasks_per_batch = 8;          // tasks per rollout batch (each with k samples)
  uint64_t seed = 1;                    // the templates' seed (a successor's seed derives from its parent's)
  std::string out;                      // folder for tasks.jsonl (kept) and rejected.jsonl; "": <run_dir>
};
void describe(ConfigIO& io, SynthConfig& c);

// Stage refine (docs/proofs.md): DeepSeekMath-V2's sequential refinement as an evaluation. For each problem, k
// chains each write a proof with a self-analysis (generator_prompt); the policy then verifies each proof
// (verifier_prompt, `verifications` times, the mean of their scores ranks it), and each chain not yet verified at
// full score revises its proof given the most critical analysis (revision_prompt), for up to `rounds` rounds.
// A proof's true score is the reward service's `score_signal` for task_type (the derivation checker for the
// built-in task). Per round: Pass@1 (the mean true score over all chains) and Best@k (per problem, the true score
// of the proof the verifier scored highest), printed as a table and written to <out>/refine_summary.jsonl.
struct RefineConfig {
  std::string tasks;                           // JSONL of problems (dsrl-agent-data task=proofs: generator.jsonl)
  std::string problem_field = "problem";       // fills {problem} in the role prompts
  std::string answer_field = "answer";         // a proof's reference_answer for the reward (the built-in: the claim)
  int64_t problems = 16;                       // the file's first problems
  int64_t rounds = 3;                          // 1 generation + up to rounds - 1 revisions
  int64_t k = 8;                               // chains per problem (Best@k)
  int64_t verifications = 1;                   // verifier samples per proof
  bool stop_at_full_score = true;              // a chain whose proof was verified at 1 stops revising
  std::string task_type = "derivation_generator";  // the reward's task type for the generator's outputs
  std::string score_signal = "proof_score";    // its signal that is a proof's true score (R_Y)
  std::string verifier_task_type = "proof_verifier";  // scores the analyses against the true score (agreement)
  std::string generator_prompt = kDerivationGeneratorPrompt;  // {problem}
  std::string verifier_prompt = kDerivationVerifierPrompt;    // {problem}, {proof}
  std::string revision_prompt = kDerivationRevisionPrompt;    // {problem}, {proof}, {analysis}
  std::string evaluation_marker = VerifierTemplate{}.evaluation_marker;  // the analysis format (the reward's)
  std::string score_marker = VerifierTemplate{}.score_marker;
  std::string out;                             // folder for refine_proofs.jsonl and refine_summary.jsonl; "": run_dir
};
void describe(ConfigIO& io, RefineConfig& c);

struct GrpoConfig {
  std::vector<std::string> rollout_endpoints;  // host:port of dsrl-rollout workers (load-balanced)
  std::string reward_endpoint;                 // host:port of dsrl-reward
  std::vector<GrpoTaskConfig> tasks = {GrpoTaskConfig{}};  // the prompt mixture
  uint64_t seed = 1;                  // prompt order and sampling seeds
  int64_t prompts_per_step = 8;       // B
  int64_t samples_per_prompt = 8;     // G
  // Sampling (the rollout's; the trainer recomputes log-probs at the same temperature).
  double temperature = 1.0;
  double top_p = 1.0;                 // 1: off
  int64_t top_k = 0;                  // 0: off
  int64_t max_new_tokens = 64;
  // Advantages.
  bool std_normalize = true;          // A = (r - mean) / (std + eps); false: r - mean
  std::string zero_variance = "skip"; // groups whose rewards are all equal: skip (not trained) or keep
  // The loss.
  double eps_low = 0.2, eps_high = 0.28;  // clip(rho, 1 - eps_low, 1 + eps_high)
  std::string kl_estimator = "unbiased_k3";  // k3, or unbiased_k3 (x pi_theta / pi_old)
  double kl_beta = 0;                 // KL weight of tasks that set none; 0 everywhere: no reference model
  bool off_policy_mask = true;        // OPSM: drop negative-advantage sequences with mean log(pi_old/pi) > delta
  double off_policy_delta = 0.5;
  bool keep_routing = true;           // replay the rollout's expert routes in the policy and reference forwards
  bool keep_sampling_mask = true;     // -inf outside the rollout's kept top-k/top-p set before the log-softmax
  std::string pi_old = "rollout";     // rollout (the behaviour log-probs) or recompute (a forward before updating)
  int64_t updates_per_batch = 1;      // optimizer steps per rollout batch (its samples split in this many parts)
  int64_t tokens_per_micro_batch = 8192;  // padded tokens per forward (micro-batches by token budget)
  // Bounded staleness 1: the rollouts of step t+1 start when step t's samples are in, so they run on the weights
  // before step t's update while it trains; the workers take the new weights once those rollouts end.
  bool overlap_rollouts = false;
  // Held-out evaluation: eval_samples answers to each of eval_prompts prompts of the first task (another seed),
  // scored by the reward service; accuracy = share of answers with a total reward >= eval_threshold. Greedy
  // (eval_temperature 0) gives the mode's accuracy; at the sampling temperature it is the expected pass@1.
  int64_t eval_every = 10;            // steps (0: never; otherwise also at step 0 and the last step)
  int64_t eval_prompts = 64;
  int64_t eval_samples = 1;
  double eval_temperature = 0;
  double eval_threshold = 1.0;
  // Calls.
  double rollout_deadline_s = 600;
  double reward_deadline_s = 300;
  int64_t retries = 2;                // rollout: on another worker; reward: after backoff
  GrpoAgentConfig agent;              // tool-using rollouts (off: one completion per sample)
};
void describe(ConfigIO& io, GrpoConfig& c);

// The KL weight of a task of the mixture.
double kl_beta_of(const GrpoConfig& c, const GrpoTaskConfig& task);
// Whether any task type has a non-zero KL weight (a reference model is needed).
bool needs_reference(const GrpoConfig& c);

}  // namespace dsrl
