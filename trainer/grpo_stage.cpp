#include "trainer/grpo_stage.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>

#include "common/config.h"
#include "common/log.h"
#include "model/checkpoint.h"
#include "trainer/dist.h"
#include "trainer/grpo_collect.h"
#include "trainer/grpo_train.h"
#include "trainer/optim_step.h"
#include "trainer/run_dir.h"
#include "trainer/tensorboard.h"
#include "trainer/train_checkpoint.h"

namespace dsrl {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Rank 0's rollouts. take() returns a step's samples, collecting them then, unless start() began them earlier on
// a thread (overlap_rollouts: while the previous step trains, on its weights before the update).
class RolloutSource {
 public:
  struct Batch {
    std::vector<GrpoSample> samples;
    CollectStats stats;
    std::string position;  // the prompt mixture's position after this batch (what a checkpoint records)
  };
  RolloutSource(GrpoCollector& collector, PromptMixture& prompts, const GrpoConfig& g)
      : collector_(collector), prompts_(prompts), g_(g) {}
  ~RolloutSource() { wait(); }

  void start(int64_t step, uint64_t version) {
    ahead_ = std::async(std::launch::async, [this, step, version] { return collect(step, version); });
  }
  Batch take(int64_t step, uint64_t version) {
    Batch b = ahead_.valid() ? ahead_.get() : collect(step, version);
    b.stats.version_gap = version - b.stats.oldest_version;  // the weights may have moved on since
    return b;
  }
  // Lets a running collection finish (before the collector serves anything else, e.g. evaluation).
  void wait() {
    if (ahead_.valid()) ahead_.wait();
  }

 private:
  Batch collect(int64_t step, uint64_t version) {
    Batch b;
    b.samples = collector_.collect(prompts_, step, version, g_.keep_sampling_mask, g_.keep_routing, &b.stats);
    b.position = prompts_.position_json();
    return b;
  }
  GrpoCollector& collector_;
  PromptMixture& prompts_;
  const GrpoConfig& g_;
  std::future<Batch> ahead_;
};

// The policy's tensors under their checkpoint names, as the rollout workers hold them, copied to host memory.
struct HostWeights {
  std::vector<at::Tensor> host;
  std::vector<WeightTensor> tensors;
};

HostWeights host_weights(DeepseekV32& model) {
  HostWeights w;
  for (auto& [name, tensor] : checkpoint_tensors(model)) {
    at::Tensor h = tensor.detach().to(at::kCPU).contiguous();
    const std::string dtype = h.scalar_type() == at::kFloat      ? "float32"
                              : h.scalar_type() == at::kBFloat16 ? "bfloat16"
                                                                 : "float16";
    w.tensors.push_back(WeightTensor{name, h.sizes().vec(), dtype, h.data_ptr(), static_cast<size_t>(h.nbytes())});
    w.host.push_back(std::move(h));
  }
  return w;
}

// Pushes the policy to every worker as `version` (rank 0).
double push_policy(DeepseekV32& model, GrpoCollector& collector, uint64_t version) {
  const auto start = Clock::now();
  HostWeights w = host_weights(model);
  collector.pool().push_weights(version, w.tensors);
  return since(start);
}

struct StepRecord {
  int64_t step = 0;
  CollectStats collect;
  GrpoTrainStats train;
  double train_s = 0, sync_s = 0, step_s = 0, tokens_per_s = 0;
  uint64_t version = 0;
};

void log_step(const StepRecord& r, int64_t steps) {
  std::string signals;
  for (const auto& [name, value] : r.collect.signal_means) signals += fmt::format(" {} {:.3f}", name, value);
  logger("trainer")->info(
      "step {}/{} reward {:.3f} ({}) len {:.1f} | kl {:.4f} ratio {:.3f}/{:.3f} clip {:.3f} opsm {:.3f} entropy "
      "{:.3f} route-mismatch {:.3f} | {} trained, {} flat groups | rollout {:.2f}s reward {:.2f}s train {:.2f}s "
      "sync {:.2f}s | {:.0f} tokens/s, policy v{}",
      r.step, steps, r.collect.reward_mean, signals.empty() ? "" : signals.substr(1), r.collect.length_mean,
      r.train.kl, r.train.ratio_mean, r.train.ratio_max, r.train.clip_fraction, r.train.masked_fraction,
      r.train.entropy, r.train.route_mismatch, r.collect.trained, r.collect.zero_variance_groups, r.collect.rollout_s, r.collect.reward_s,
      r.train_s, r.sync_s, r.tokens_per_s, r.version);
  const AgentStats& a = r.collect.agent;
  if (a.trajectories > 0)
    logger("trainer")->info("step {}: per trajectory {:.2f} turns, {:.2f} tool calls ({:.2f} errors), {:.2f} resets; "
                            "{:.3f} answered, {:.3f} out of window", r.step, a.turns, a.tool_calls, a.tool_errors,
                            a.resets, a.answered, a.context_full);
  if (r.collect.scored < r.collect.samples)
    logger("trainer")->warn("step {}: {} of {} samples had no reward and were dropped, e.g. {}", r.step,
                            r.collect.samples - r.collect.scored, r.collect.samples, r.collect.first_reward_error);
}

// Agent rollouts' per-trajectory means under prefix + name (nothing when there were none).
void add_agent_metrics(const AgentStats& a, const std::string& prefix, nlohmann::json& j) {
  if (a.trajectories == 0) return;
  j[prefix + "turns"] = a.turns;
  j[prefix + "tool_calls"] = a.tool_calls;
  j[prefix + "tool_errors"] = a.tool_errors;
  j[prefix + "resets"] = a.resets;
  j[prefix + "contexts"] = a.contexts;
  j[prefix + "answered"] = a.answered;
  j[prefix + "context_full"] = a.context_full;
  j[prefix + "errors"] = a.errors;
}

void record_step(const std::string& run_dir, EventWriter& events, const StepRecord& r) {
  nlohmann::json j = {{"step", r.step},
                      {"reward", r.collect.reward_mean},
                      {"response_length", r.collect.length_mean},
                      {"stopped_share", r.collect.stopped_share},
                      {"samples", r.collect.samples},
                      {"samples_scored", r.collect.scored},
                      {"samples_trained", r.collect.trained},
                      {"zero_variance_groups", r.collect.zero_variance_groups},
                      {"dropped_groups", r.collect.dropped_groups},
                      {"objective", r.train.objective},
                      {"kl", r.train.kl},
                      {"ratio_mean", r.train.ratio_mean},
                      {"ratio_max", r.train.ratio_max},
                      {"clip_fraction", r.train.clip_fraction},
                      {"opsm_masked_fraction", r.train.masked_fraction},
                      {"entropy", r.train.entropy},
                      {"route_mismatch", r.train.route_mismatch},
                      {"outside_nucleus", r.train.outside_nucleus},
                      {"grad_norm", r.train.grad_norm},
                      {"policy_version", r.version},
                      {"version_gap", r.collect.version_gap},
                      {"tokens_per_s", r.tokens_per_s},
                      {"rollout_s", r.collect.rollout_s},
                      {"reward_s", r.collect.reward_s},
                      {"train_s", r.train_s},
                      {"sync_s", r.sync_s},
                      {"step_s", r.step_s}};
  for (const auto& [name, value] : r.collect.signal_means) j["reward/" + name] = value;
  add_agent_metrics(r.collect.agent, "agent/", j);
  append_metrics(run_dir, j.dump());
  std::string trajectories;  // one write for the step's lines
  for (const std::string& line : r.collect.trajectory_lines) trajectories += (trajectories.empty() ? "" : "\n") + line;
  if (!trajectories.empty()) append_metrics(run_dir, trajectories, "agent_trajectories.jsonl");
  for (const auto& [key, value] : j.items())
    if (key != "step" && value.is_number()) events.scalar((key.find('/') == std::string::npos ? "grpo/" : "") + key,
                                                          value.get<double>(), r.step);
  events.flush();
}

void record_eval(const std::string& run_dir, EventWriter& events, int64_t step, const EvalStats& e) {
  logger("trainer")->info("eval at step {}: held-out accuracy {:.3f} over {} answers (reward {:.3f}, len {:.1f})",
                          step, e.accuracy, e.answers, e.reward_mean, e.length_mean);
  nlohmann::json j = {{"step", step}, {"eval_accuracy", e.accuracy}, {"eval_reward", e.reward_mean},
                      {"eval_answers", e.answers}, {"eval_length", e.length_mean}};
  add_agent_metrics(e.agent, "eval_agent/", j);
  if (e.agent.trajectories > 0)
    logger("trainer")->info("eval at step {}: {:.2f} turns, {:.2f} tool calls, {:.2f} resets per trajectory, {:.3f} "
                            "answered", step, e.agent.turns, e.agent.tool_calls, e.agent.resets, e.agent.answered);
  append_metrics(run_dir, j.dump());
  events.scalar("eval/accuracy", e.accuracy, step);
  events.scalar("eval/reward", e.reward_mean, step);
  events.flush();
}

}  // namespace

int run_grpo_stage(const TrainConfig& cfg, Communicator& comm, const MpiSession& mpi, const std::string& run_dir,
                   bool resume) {
  auto log = logger("trainer");
  const bool root = comm.rank() == 0;
  const GrpoConfig& g = cfg.grpo;
  if (g.rollout_endpoints.empty() || g.reward_endpoint.empty())
    throw ConfigError("stage grpo needs grpo.rollout_endpoints (dsrl-rollout workers) and grpo.reward_endpoint "
                      "(dsrl-reward); scripts/run-local.sh starts both and fills them in");
  const at::Device device = cfg.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  const at::ScalarType dtype = device.is_cuda() ? at::kBFloat16 : at::kFloat;
  DeepseekV32 policy = load_model_source(cfg.model, device, dtype);
  DeepseekV32 reference{nullptr};
  if (needs_reference(g)) {
    reference = load_model_source(cfg.model, device, dtype);
    reference->eval();
    for (auto& p : reference->parameters()) p.set_requires_grad(false);
  }
  std::vector<ParamGroup> groups = stage_param_groups(policy, cfg);
  std::vector<double> peak_lr;
  for (const auto& grp : groups) peak_lr.push_back(grp.lr);
  AdamW optimizer(groups, AdamWOptions{cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps});
  const int64_t vocab_limit = sampling_vocab_limit(cfg.tokenizer, policy->config().vocab_size);
  if (root && vocab_limit > 0)
    log->info("the tokenizer has {} ids, the model {}: sampling and log-probs use the first {}", vocab_limit,
              policy->config().vocab_size, vocab_limit);
  GrpoLearner learner(cfg, policy, reference, optimizer, groups, comm, device, vocab_limit);
  PromptMixture prompts(g);  // every rank builds it (cheap); only rank 0 draws
  std::unique_ptr<GrpoCollector> collector;
  std::unique_ptr<RolloutSource> source;
  if (root) {
    collector = std::make_unique<GrpoCollector>(g, cfg.tokenizer, vocab_limit);
    source = std::make_unique<RolloutSource>(*collector, prompts, g);
  }

  TrainState state;
  uint64_t version = 0;
  if (resume) {
    if (auto latest = latest_checkpoint(run_dir)) {
      state = load_train_checkpoint(*latest, policy, optimizer);
      DSRL_CHECK(!state.stage_state.empty(), "{} has no grpo state (stage_state): not a grpo checkpoint", *latest);
      const nlohmann::json s = nlohmann::json::parse(state.stage_state);
      prompts.seek(s.at("prompts").dump(), *latest + "/trainer_state.json");
      version = s.at("policy_version").get<uint64_t>();
      if (root) log->info("resuming from {} (step {}, policy version {})", *latest, state.step, version);
    } else if (root) {
      log->warn("--resume: no complete checkpoint in {}/checkpoints; starting from step 0", run_dir);
    }
  }
  std::unique_ptr<EventWriter> events;
  if (root) {
    events = std::make_unique<EventWriter>(run_dir + "/tensorboard");
    log->info("grpo: {}; {} prompts x {} samples per step on {} rollout worker(s); reference model {}",
              prompts.summary(), g.prompts_per_step, g.samples_per_prompt, collector->pool().size(),
              reference ? "on" : "off (no KL weight)");
    // The workers serve what this trainer holds before the first rollout (a fresh start or a resume alike).
    version = std::max(version, collector->pool().serving_version()) + 1;
    const double s = push_policy(policy, *collector, version);
    log->info("policy version {} pushed to the workers in {:.2f} s", version, s);
  }
  const int64_t last = cfg.train.stop_after > 0 ? std::min(cfg.train.stop_after, cfg.train.steps) : cfg.train.steps;
  auto evaluate = [&](int64_t step) {
    if (!root || g.eval_every <= 0 || g.eval_prompts <= 0) return;
    source->wait();
    record_eval(run_dir, *events, step, collector->evaluate(prompts.held_out()));
  };
  std::string position = prompts.position_json();  // after the prompts trained so far
  if (state.step == 0) evaluate(0);
  const auto start = Clock::now();
  int64_t tokens_done = 0;
  for (int64_t step = state.step + 1; step <= last; ++step) {
    const double factor = schedule_factor(cfg.optim, step, cfg.train.steps);
    for (size_t i = 0; i < groups.size(); ++i) optimizer.groups()[i].lr = peak_lr[i] * factor;
    const auto step_start = Clock::now();
    StepRecord r;
    r.step = step;
    std::string packed;
    if (root) {
      RolloutSource::Batch batch = source->take(step, version);
      if (g.overlap_rollouts && step < last) source->start(step + 1, version);
      packed = pack_samples(batch.samples);
      r.collect = std::move(batch.stats);
      position = std::move(batch.position);
    }
    std::vector<GrpoSample> samples = unpack_samples(mpi.broadcast(packed));
    const auto train_start = Clock::now();
    r.train = learner.update(samples);
    r.train_s = since(train_start);
    if (root) r.sync_s = push_policy(policy, *collector, ++version);
    r.version = version;
    r.step_s = since(step_start);
    tokens_done += r.collect.generated_tokens;
    r.tokens_per_s = tokens_done / std::max(1e-9, since(start));
    if (root) {
      record_step(run_dir, *events, r);
      if (step % cfg.train.log_every == 0 || step == last) log_step(r, cfg.train.steps);
      if ((g.eval_every > 0 && step % g.eval_every == 0) || step == last) evaluate(step);
    }
    state.step = step;
    state.stage_state = nlohmann::json{{"prompts", nlohmann::json::parse(position)},
                                       {"policy_version", version}}
                            .dump();
    const bool checkpoint = step == last || (cfg.train.checkpoint_every > 0 && step % cfg.train.checkpoint_every == 0);
    if (checkpoint && root) save_train_checkpoint(run_dir, policy, optimizer, state, cfg.train.keep_checkpoints);
    if (checkpoint) comm.barrier();
  }
  if (root) log->info("stage grpo done at step {}; model in {}/checkpoints/{}", state.step, run_dir,
                      fmt::format("step-{:08d}/model", state.step));
  return 0;
}

}  // namespace dsrl
