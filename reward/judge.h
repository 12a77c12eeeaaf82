// The generative reward model (the `judge` signal) and the DeepSeekMath-V2 meta-verifier, without the network:
// rendering the judge prompt, reading the score out of the judge's reply, and the interface the scorer asks
// judgements through. judge_client.h implements that interface over a dsrl-rollout worker's Generate.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsrl {

class ConfigIO;

// configs/reward.yaml `judge:`.
struct JudgeConfig {
  std::string endpoint;             // host:port of the dsrl-rollout worker serving the judge model; "" = none
                                    // (items that need a judgement then get an error)
  std::string tokenizer = "byte";   // the judge model's tokenizer: byte, a tokenizer.json, or a folder with one
  // The judge prompt; {prompt}, {response}, {reference} and {rubric} are replaced by the item's fields (an empty
  // rubric by default_rubric). The judge must end its reply with \boxed{score}.
  std::string prompt =
      "<｜User｜>You are grading a response.\n\nRubric:\n{rubric}\n\nQuestion:\n{prompt}\n\nReference answer (may be "
      "empty):\n{reference}\n\nResponse:\n{response}\n\nExplain briefly, then give a score from 0 to 10 as "
      "\\boxed{score}.<｜Assistant｜></think>";
  std::string default_rubric = "Is the response correct, complete and clearly argued?";
  double score_min = 0;             // the judge's scale: \boxed{s} with s in [score_min, score_max] gives
  double score_max = 10;            // (s - score_min) / (score_max - score_min); outside the scale is an error
  // The DeepSeekMath-V2 meta-verifier (math_v2.meta_verifier: true): judges a verifier-format analysis;
  // {prompt} is the problem and proof, {response} the analysis. Its \boxed{} score is 0, 0.5 or 1 (R_meta).
  std::string meta_prompt =
      "<｜User｜>Here is a problem with a proof, and an analysis of that proof.\n\n{prompt}\n\nAnalysis:\n{response}"
      "\n\nAre the issues the analysis raises real, and does its score follow from them? Answer \\boxed{1} if so, "
      "\\boxed{0.5} if partly, \\boxed{0} if not.<｜Assistant｜></think>";
  double temperature = 0;           // 0: greedy
  int64_t max_new_tokens = 1024;    // of the judge's reply
  std::vector<int64_t> stop_token_ids;  // ends the reply early (e.g. the judge's end-of-sentence id)
  int64_t batch_size = 32;          // judge prompts per Generate call
  int64_t concurrency = 4;          // Generate calls in flight
  double timeout_s = 120;           // deadline of one Generate call, seconds
  int64_t retries = 2;              // further attempts of a call that failed in transit (unavailable, deadline
                                    // exceeded, resource exhausted, aborted), with backoff
  double backoff_s = 0.5;           // wait before the first retry, doubled for each next one
  std::string on_failure = "drop";  // a judgement that failed or could not be parsed: drop (the item gets an
                                    // error and no total; the trainer drops such samples) or fail_batch (the
                                    // Score call fails with UNAVAILABLE, so the caller retries it later)
};
void describe(ConfigIO& io, JudgeConfig& c);

// The prompt with {prompt}, {response}, {reference} and {rubric} replaced (each once per occurrence; the
// replacements themselves are not scanned again).
std::string render_judge_prompt(const std::string& templ, const std::string& prompt, const std::string& response,
                                const std::string& reference, const std::string& rubric);

// The score of a judge reply: the last \boxed{...}, a plain number within [min, max], mapped to [0, 1].
// Throws JudgeError naming what was wrong and quoting the end of the reply.
double parse_judge_score(const std::string& reply, double min, double max);

class JudgeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One judge reply, or why there is none.
struct Judgement {
  std::string reply;
  std::string error;  // non-empty: the call failed (after its retries) or the reply was unusable
};

class JudgeBackend {
 public:
  virtual ~JudgeBackend() = default;
  // One Judgement per prompt, in order. A failure affects only the prompts it concerns (their error); it never
  // throws for them.
  virtual std::vector<Judgement> judge(const std::vector<std::string>& prompts) = 0;
};

}  // namespace dsrl
