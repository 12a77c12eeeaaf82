#include "trainer/synth_stage.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "agent/python_tool.h"
#include "agent/records.h"
#include "agent/records_proposals.h"
#include "common/error.h"
#include "common/log.h"
#include "common/utf8.h"
#include "model/config.h"
#include "trainer/grpo_collect.h"
#include "trainer/grpo_data.h"
#include "trainer/run_dir.h"

namespace dsrl {
namespace {

// One candidate task and where it came from.
struct Candidate {
  RecordsTask task;
  uint64_t seed = 0;       // the template seed it was made with
  int64_t id = 0;          // running number over the whole run
  int64_t parent = -1;     // the task it is the harder successor of (-1: none)
  int64_t round = 0;
};

struct Tally {
  int64_t candidates = 0, kept = 0, unsolved = 0, too_easy = 0, unscored = 0, raised = 0;
};

// kept, unsolved (pass@k = 0), too_easy (above max_pass_rate) or unscored (no sample got a reward: rollout or
// reward errors, not the policy's failure).
std::string verdict_of(const PassCount& p, const SynthConfig& s) {
  if (p.scored == 0) return "unscored";
  if (p.passes == 0) return "unsolved";
  return static_cast<double>(p.passes) / static_cast<double>(p.scored) > s.max_pass_rate ? "too_easy" : "kept";
}

// A successor's template seed: distinct from every first-round seed and from its siblings'.
uint64_t successor_seed(uint64_t parent_seed, int64_t parent_id) {
  return parent_seed * 1000003 + static_cast<uint64_t>(parent_id) * 7919 + 1;
}

std::vector<Candidate> first_round(const SynthConfig& s) {
  std::vector<Candidate> out;
  if (s.tasks == 0) return out;
  const std::vector<RecordsTask> tasks = make_records_tasks(s.tasks, s.start_difficulty, s.seed);
  for (size_t i = 0; i < tasks.size(); ++i) out.push_back({tasks[i], s.seed, static_cast<int64_t>(i), -1, 0});
  return out;
}

GrpoPrompt as_prompt(const RecordsTask& t) {
  GrpoPrompt p = make_prompt(t.statement, t.answer, "", 0);
  p.files = t.files;
  return p;
}

struct Proposals {
  std::vector<Candidate> valid;
  int64_t invalid = 0;
  std::string first_reason;  // of an invalid one
};

// The policy-written candidates (synth.policy_tasks): a question and a program per new database, the program run in
// the sandbox for the answer. Invalid proposals go to `invalid_file` with the reason.
Proposals policy_round(const SynthConfig& s, const GrpoConfig& g, GrpoCollector& collector, int64_t first_id,
                       std::ofstream& invalid_file) {
  Proposals out;
  if (s.policy_tasks == 0) return out;
  std::unique_ptr<PythonTool> python;
  try {
    python = std::make_unique<PythonTool>(g.agent.python);
  } catch (const Error& e) {
    DSRL_FAIL("synth.policy_tasks runs the policy's programs in the sandbox of grpo.agent.python: {}", e.what());
  }
  const uint64_t seed = s.seed + 104729;  // databases other than the template candidates'
  const std::vector<RecordsTask> databases = make_records_tasks(s.policy_tasks, s.start_difficulty, seed);
  std::vector<GrpoPrompt> prompts;
  for (const RecordsTask& d : databases) prompts.push_back(make_prompt(records_proposal_prompt(d.files), "", "", 0));
  const std::vector<std::string> replies =
      collector.completion_texts(prompts, 1, g.temperature, s.proposal_max_new_tokens, seed * 7919);
  for (size_t i = 0; i < databases.size(); ++i) {
    std::string why;
    const auto proposal = parse_task_proposal(replies[i], &why);
    const auto answer = proposal ? proposal_answer(*proposal, databases[i].files, *python, &why) : std::nullopt;
    if (!answer) {
      invalid_file << nlohmann::json{{"database_seed", seed}, {"database", i}, {"files", databases[i].files},
                                     {"reply", valid_utf8(utf8_prefix(replies[i], 2000))}, {"why", why}}.dump()
                   << "\n";
      if (out.first_reason.empty()) out.first_reason = why;
      ++out.invalid;
      continue;
    }
    RecordsTask t;
    t.question = proposal->question;
    t.statement = records_statement(t.question);
    t.files = databases[i].files;
    t.answer = *answer;
    t.difficulty = s.start_difficulty;
    t.template_name = "policy";
    t.solution_program = proposal->program;
    out.valid.push_back({std::move(t), seed, first_id + static_cast<int64_t>(out.valid.size()), -1, 0});
  }
  return out;
}

// The task's line for tasks.jsonl / rejected.jsonl: what grpo.tasks reads, then provenance and pass rate.
std::string task_line(const Candidate& c, const PassCount& pass, const SynthConfig& s, const std::string& verdict) {
  const double rate = pass.scored ? static_cast<double>(pass.passes) / static_cast<double>(pass.scored) : 0.0;
  return nlohmann::json{
      {"prompt", c.task.statement}, {"answer", c.task.answer}, {"files", c.task.files},
      {"program", c.task.solution_program},
      {"task_type", s.task_type}, {"difficulty", c.task.difficulty}, {"verdict", verdict},
      {"provenance", {{"environment", s.environment}, {"template", c.task.template_name}, {"seed", c.seed},
                      {"id", c.id}, {"parent", c.parent}, {"round", c.round}}},
      {"k", s.k}, {"scored", pass.scored}, {"passes", pass.passes}, {"pass_rate", rate},
      {"rewards", pass.rewards}, {"answers", pass.answers}, {"first_error", pass.first_error}}
      .dump();
}

std::ofstream open_out(const std::filesystem::path& path) {
  std::ofstream out(path);
  DSRL_CHECK(out.good(), "stage synthesize: cannot write {}", path.string());
  return out;
}

int64_t& count_of(Tally& t, const std::string& verdict) {
  if (verdict == "kept") return t.kept;
  if (verdict == "unsolved") return t.unsolved;
  return verdict == "too_easy" ? t.too_easy : t.unscored;
}

// Logs the counts per difficulty and appends them, with the totals, to <run_dir>/synth_summary.jsonl.
void report(const std::map<int, Tally>& tally, const Proposals& proposals, const SynthConfig& s,
            const std::string& run_dir, const std::filesystem::path& out_dir) {
  auto log = logger("trainer");
  int64_t candidates = 0, kept = 0;
  nlohmann::json summary = {{"k", s.k}, {"pass_threshold", s.pass_threshold},
                            {"by_difficulty", nlohmann::json::object()}};
  for (const auto& [difficulty, t] : tally) {
    log->info("synthesize: difficulty {}: {} candidates, {} kept, {} unsolved (pass@{} = 0), {} too easy, {} "
              "unscored, {} raised", difficulty, t.candidates, t.kept, t.unsolved, s.k, t.too_easy, t.unscored,
              t.raised);
    summary["by_difficulty"][std::to_string(difficulty)] = {{"candidates", t.candidates}, {"kept", t.kept},
                                                           {"unsolved", t.unsolved}, {"too_easy", t.too_easy},
                                                           {"unscored", t.unscored}, {"raised", t.raised}};
    candidates += t.candidates, kept += t.kept;
  }
  summary["candidates"] = candidates, summary["kept"] = kept, summary["rejected"] = candidates - kept;
  summary["policy_proposals"] = s.policy_tasks, summary["policy_valid"] = proposals.valid.size();
  append_metrics(run_dir, summary.dump(), "synth_summary.jsonl");
  log->info("synthesize: kept {} of {} tasks in {}, rejected {} in {}", kept, candidates,
            (out_dir / "tasks.jsonl").string(), candidates - kept, (out_dir / "rejected.jsonl").string());
}

}  // namespace

int run_synth_stage(const TrainConfig& config, int rank, const std::string& run_dir) {
  if (rank != 0) return 0;
  auto log = logger("trainer");
  const SynthConfig& s = config.synth;
  GrpoConfig g = config.grpo;  // one task: the synthesised ones, verified by synth.task_type
  DSRL_CHECK(g.agent.enabled, "stage synthesize runs the policy as an agent: set grpo.agent.enabled and its tools "
             "(records, calculator for environment records)");
  GrpoTaskConfig task;
  task.task_type = s.task_type;
  g.tasks = {task};
  const ModelConfig model = load_model_config(config.model.checkpoint.empty() ? config.model.config
                                                                              : config.model.checkpoint);
  GrpoCollector collector(g, config.tokenizer, sampling_vocab_limit(config.tokenizer, model.vocab_size));
  const std::filesystem::path out_dir(s.out.empty() ? run_dir : s.out);
  std::filesystem::create_directories(out_dir);
  auto kept_file = open_out(out_dir / "tasks.jsonl"), rejected_file = open_out(out_dir / "rejected.jsonl");
  auto invalid_file = open_out(out_dir / "proposals_invalid.jsonl");

  std::map<int, Tally> tally;  // by difficulty
  std::vector<Candidate> round = first_round(s);
  const Proposals proposals = policy_round(s, g, collector, static_cast<int64_t>(round.size()), invalid_file);
  if (s.policy_tasks > 0)
    log->info("synthesize: the policy proposed {} tasks: {} valid, {} invalid{} ({})", s.policy_tasks,
              proposals.valid.size(), proposals.invalid,
              proposals.first_reason.empty() ? "" : ", first: " + proposals.first_reason,
              (out_dir / "proposals_invalid.jsonl").string());
  round.insert(round.end(), proposals.valid.begin(), proposals.valid.end());
  int64_t next_id = static_cast<int64_t>(round.size());
  for (int64_t r = 0; !round.empty(); ++r) {
    std::vector<Candidate> harder;
    for (size_t start = 0; start < round.size(); start += static_cast<size_t>(s.tasks_per_batch)) {
      const size_t end = std::min(round.size(), start + static_cast<size_t>(s.tasks_per_batch));
      std::vector<GrpoPrompt> prompts;
      for (size_t i = start; i < end; ++i) prompts.push_back(as_prompt(round[i].task));
      AgentStats agent;
      const uint64_t sampling_seed = s.seed * 7919 + static_cast<uint64_t>(r) * 131 + start;
      const std::vector<PassCount> passes =
          collector.pass_counts(prompts, s.k, s.pass_threshold, sampling_seed, &agent);
      for (size_t i = start; i < end; ++i) {
        const Candidate& c = round[i];
        const PassCount& p = passes[i - start];
        Tally& t = tally[c.task.difficulty];
        ++t.candidates;
        const std::string verdict = verdict_of(p, s);
        (verdict == "kept" ? kept_file : rejected_file) << task_line(c, p, s, verdict) << "\n";
        ++count_of(t, verdict);
        if (p.scored < s.k)
          log->warn("synthesize: task {}: {} of {} samples could not be scored, first: {}", c.id, s.k - p.scored,
                    s.k, p.first_error);
        if (s.raise_difficulty && p.scored == s.k && p.passes == s.k && c.task.difficulty < s.max_difficulty) {
          const uint64_t seed = successor_seed(c.seed, c.id);
          harder.push_back({make_records_tasks(1, c.task.difficulty + 1, seed)[0], seed, next_id++, c.id, r + 1});
          ++t.raised;
        }
      }
      log->info("synthesize: round {}, tasks {}-{} of {}: {} x {} samples, {:.2f} turns and {:.2f} tool calls per "
                "trajectory", r, start + 1, end, round.size(), end - start, s.k, agent.turns, agent.tool_calls);
    }
    round = std::move(harder);
  }
  DSRL_CHECK(kept_file.good() && rejected_file.good() && invalid_file.good(), "stage synthesize: writing {} failed",
             out_dir.string());
  report(tally, proposals, s, run_dir, out_dir);
  return 0;
}

}  // namespace dsrl
