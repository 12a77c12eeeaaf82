#include "trainer/refine_stage.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "agent/proof_format.h"
#include "common/error.h"
#include "common/jsonl.h"
#include "common/log.h"
#include "common/utf8.h"
#include "model/config.h"
#include "trainer/grpo_collect.h"
#include "trainer/grpo_data.h"
#include "trainer/run_dir.h"

namespace dsrl {
namespace {

constexpr int64_t kGeneratorTask = 0, kVerifierTask = 1;  // the collector's tasks
constexpr size_t kMaxQuoteBytes = 1500;                    // of a proof or analysis quoted in a role prompt

struct Problem {
  std::string text;    // fills {problem}
  std::string answer;  // the generator item's reference_answer
};

std::vector<Problem> read_problems(const RefineConfig& r) {
  std::vector<Problem> out;
  read_jsonl_objects(r.tasks, [&](const nlohmann::json& object, const std::string& where) {
    if (static_cast<int64_t>(out.size()) >= r.problems) return;
    auto field = [&](const std::string& key) {
      const auto it = object.find(key);
      DSRL_CHECK(it != object.end() && it->is_string() && !it->get<std::string>().empty(),
                 "{}: stage refine needs a non-empty string field \"{}\" (refine.{}_field)", where, key,
                 key == r.problem_field ? "problem" : "answer");
      return it->get<std::string>();
    };
    out.push_back({field(r.problem_field), field(r.answer_field)});
  });
  DSRL_CHECK(!out.empty(), "refine.tasks '{}' holds no problems", r.tasks);
  if (static_cast<int64_t>(out.size()) < r.problems)
    logger("trainer")->warn("refine: {} holds {} problems, fewer than refine.problems {}", r.tasks, out.size(),
                            r.problems);
  return out;
}

std::string quoted(const std::string& text) { return valid_utf8(utf8_prefix(text, kMaxQuoteBytes)); }

bool needs_revision(const RefineChain& c, const RefineConfig& r) {
  return !(r.stop_at_full_score && c.error.empty() && c.verifier_score == 1.0);
}

class Refinement {
 public:
  Refinement(const RefineConfig& r, const GrpoConfig& g, GrpoCollector& collector, std::vector<Problem> problems)
      : r_(r), g_(g), collector_(collector), problems_(std::move(problems)),
        chains_(problems_.size(), std::vector<RefineChain>(static_cast<size_t>(r.k))),
        tmpl_{r.evaluation_marker, r.score_marker} {}

  // Round `round` (0-based): new proofs (all chains in round 0, the open ones later), then their verification.
  // Returns the chains that wrote a new proof, as (problem, chain).
  std::vector<std::pair<size_t, size_t>> run_round(int64_t round) {
    std::vector<std::pair<size_t, size_t>> fresh;
    std::vector<GrpoPrompt> prompts;
    int64_t per_prompt = 1;
    for (size_t p = 0; p < problems_.size(); ++p) {
      if (round == 0) {
        prompts.push_back(make_prompt(fill_role_prompt(r_.generator_prompt, problems_[p].text),
                                      problems_[p].answer, "", kGeneratorTask));
        for (size_t c = 0; c < chains_[p].size(); ++c) fresh.emplace_back(p, c);
        per_prompt = r_.k;
        continue;
      }
      for (size_t c = 0; c < chains_[p].size(); ++c) {
        const RefineChain& chain = chains_[p][c];
        if (!needs_revision(chain, r_)) continue;
        prompts.push_back(make_prompt(fill_role_prompt(r_.revision_prompt, problems_[p].text, quoted(chain.proof),
                                                       quoted(chain.critique)),
                                      problems_[p].answer, "", kGeneratorTask));
        fresh.emplace_back(p, c);
      }
    }
    if (fresh.empty()) return fresh;
    const uint64_t seed = g_.seed * 7919 + static_cast<uint64_t>(round) * 131;
    const std::vector<ScoredAnswer> proofs = collector_.scored_answers(prompts, per_prompt, g_.temperature, seed);
    for (size_t i = 0; i < fresh.size(); ++i) take_proof(chain(fresh[i]), proofs[i], round);
    verify(fresh, seed + 1);
    return fresh;
  }

  const std::vector<std::vector<RefineChain>>& chains() const { return chains_; }
  const RefineChain& chain(std::pair<size_t, size_t> at) const { return chains_[at.first][at.second]; }
  const Problem& problem(size_t p) const { return problems_[p]; }

 private:
  RefineChain& chain(std::pair<size_t, size_t> at) { return chains_[at.first][at.second]; }

  void take_proof(RefineChain& c, const ScoredAnswer& a, int64_t round) {
    c = RefineChain{a.response, proof_and_analysis(a.response, tmpl_).proof, a.reward.error, 0, 0, {}, "", -1,
                    c.revisions + (round > 0)};
    if (!c.error.empty()) return;
    const auto it = a.reward.signals.find(r_.score_signal);
    DSRL_CHECK(it != a.reward.signals.end(), "refine.score_signal '{}' is not among the signals task type '{}' "
               "reports: set the reward service's task_types.{} (math_generator with math_v2.proof_score) or "
               "refine.score_signal", r_.score_signal, r_.task_type, r_.task_type);
    c.true_score = it->second;
  }

  // `verifications` analyses of each fresh proof; the reward scores them against the proof's true score.
  void verify(const std::vector<std::pair<size_t, size_t>>& fresh, uint64_t seed) {
    std::vector<GrpoPrompt> prompts;
    for (const auto& at : fresh) {
      const RefineChain& c = chain(at);
      prompts.push_back(make_prompt(fill_role_prompt(r_.verifier_prompt, problems_[at.first].text, quoted(c.proof)),
                                    c.error.empty() ? fmt::format("{}", c.true_score) : "", "", kVerifierTask));
    }
    const std::vector<ScoredAnswer> analyses =
        collector_.scored_answers(prompts, r_.verifications, g_.temperature, seed);
    for (size_t i = 0; i < fresh.size(); ++i) {
      RefineChain& c = chain(fresh[i]);
      double lowest = 2, agreement = 0, sum = 0;
      int64_t agreed = 0;
      for (int64_t v = 0; v < r_.verifications; ++v) {
        const ScoredAnswer& a = analyses[i * static_cast<size_t>(r_.verifications) + static_cast<size_t>(v)];
        const std::string analysis = after_reasoning(a.response);
        const double score = verifier_score(analysis, tmpl_).value_or(0.0);
        c.verdicts.push_back(score);
        sum += score;
        if (score < lowest) lowest = score, c.critique = analysis;
        if (a.reward.error.empty()) agreement += a.reward.total, ++agreed;
      }
      c.verifier_score = sum / static_cast<double>(r_.verifications);
      c.agreement = agreed ? agreement / static_cast<double>(agreed) : -1;
    }
  }

  const RefineConfig& r_;
  const GrpoConfig& g_;
  GrpoCollector& collector_;
  std::vector<Problem> problems_;
  std::vector<std::vector<RefineChain>> chains_;
  VerifierTemplate tmpl_;
};

std::string proof_line(const Refinement& refinement, std::pair<size_t, size_t> at, int64_t round) {
  const RefineChain& c = refinement.chain(at);
  return nlohmann::json{{"round", round + 1}, {"problem_index", at.first},
                        {"problem", refinement.problem(at.first).text}, {"chain", at.second},
                        {"revisions", c.revisions}, {"response", c.response}, {"proof", c.proof},
                        {"true_score", c.true_score}, {"error", c.error}, {"verdicts", c.verdicts},
                        {"verifier_score", c.verifier_score}, {"agreement", c.agreement}, {"critique", c.critique}}
      .dump();
}

std::string summary_line(const RefineRound& s, const RefineConfig& r, size_t problems) {
  return nlohmann::json{{"round", s.round}, {"revised", s.revised}, {"pass_at_1", s.pass_at_1},
                        {"best_at_k", s.best_at_k}, {"k", r.k}, {"problems", problems},
                        {"verifier_score", s.verifier_score}, {"agreement", s.agreement}, {"unscored", s.unscored}}
      .dump();
}

}  // namespace

RefineRound summarize_round(const std::vector<std::vector<RefineChain>>& chains, int64_t round, int64_t revised) {
  RefineRound s;
  s.round = round;
  s.revised = revised;
  int64_t n = 0, agreed = 0;
  double agreement = 0;
  for (const auto& problem : chains) {
    const RefineChain* best = nullptr;
    for (const RefineChain& c : problem) {
      const double truth = c.error.empty() ? c.true_score : 0.0;
      s.pass_at_1 += truth;
      s.verifier_score += c.verifier_score;
      s.unscored += !c.error.empty();
      if (c.agreement >= 0) agreement += c.agreement, ++agreed;
      if (!best || c.verifier_score > best->verifier_score) best = &c;
      ++n;
    }
    if (best) s.best_at_k += best->error.empty() ? best->true_score : 0.0;
  }
  if (n > 0) s.pass_at_1 /= static_cast<double>(n), s.verifier_score /= static_cast<double>(n);
  if (!chains.empty()) s.best_at_k /= static_cast<double>(chains.size());
  s.agreement = agreed ? agreement / static_cast<double>(agreed) : -1;
  return s;
}

std::string refine_table(const std::vector<RefineRound>& rounds, int64_t k) {
  std::string out = fmt::format("{:>5}  {:>7}  {:>7}  {:>8}  {:>8}  {:>9}  {:>8}\n", "round", "revised", "pass@1",
                                fmt::format("best@{}", k), "verified", "agreement", "unscored");
  for (const RefineRound& s : rounds)
    out += fmt::format("{:>5}  {:>7}  {:>7.3f}  {:>8.3f}  {:>8.3f}  {:>9}  {:>8}\n", s.round, s.revised,
                       s.pass_at_1, s.best_at_k, s.verifier_score,
                       s.agreement < 0 ? std::string("-") : fmt::format("{:.3f}", s.agreement), s.unscored);
  return out;
}

int run_refine_stage(const TrainConfig& config, int rank, const std::string& run_dir) {
  if (rank != 0) return 0;
  auto log = logger("trainer");
  const RefineConfig& r = config.refine;
  GrpoConfig g = config.grpo;
  DSRL_CHECK(!g.agent.enabled, "stage refine samples plain completions: set grpo.agent.enabled to false");
  GrpoTaskConfig generator, verifier;
  generator.task_type = r.task_type;
  verifier.task_type = r.verifier_task_type;
  g.tasks = {generator, verifier};
  const ModelConfig model = load_model_config(config.model.checkpoint.empty() ? config.model.config
                                                                              : config.model.checkpoint);
  GrpoCollector collector(g, config.tokenizer, sampling_vocab_limit(config.tokenizer, model.vocab_size));
  Refinement refinement(r, g, collector, read_problems(r));
  const size_t problems = refinement.chains().size();
  const std::filesystem::path out_dir(r.out.empty() ? run_dir : r.out);
  std::filesystem::create_directories(out_dir);
  std::ofstream records(out_dir / "refine_proofs.jsonl");
  DSRL_CHECK(records.good(), "stage refine: cannot write {}", (out_dir / "refine_proofs.jsonl").string());
  log->info("refine: {} problems x {} chains, up to {} rounds, {} verification(s) per proof", problems, r.k,
            r.rounds, r.verifications);
  std::vector<RefineRound> rounds;
  for (int64_t round = 0; round < r.rounds; ++round) {
    const auto fresh = refinement.run_round(round);
    for (const auto& at : fresh) records << proof_line(refinement, at, round) << "\n";
    rounds.push_back(summarize_round(refinement.chains(), round + 1, static_cast<int64_t>(fresh.size())));
    const RefineRound& s = rounds.back();
    append_metrics(out_dir.string(), summary_line(s, r, problems), "refine_summary.jsonl");
    log->info("refine: round {}: {} proofs written, pass@1 {:.3f}, best@{} {:.3f}, verifier score {:.3f}, {} "
              "unscored", s.round, s.revised, s.pass_at_1, r.k, s.best_at_k, s.verifier_score, s.unscored);
  }
  records.flush();
  DSRL_CHECK(records.good(), "stage refine: writing {} failed", (out_dir / "refine_proofs.jsonl").string());
  fmt::print("refinement: {} problems x {} chains (pass@1: mean true score; best@{}: the proof the verifier "
             "scored highest)\n{}", problems, r.k, r.k, refine_table(rounds, r.k));
  return 0;
}

}  // namespace dsrl
