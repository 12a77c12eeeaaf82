// dsrl-reward's config (configs/reward.yaml): which signals score which task type, with what weights.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "agent/python_tool.h"
#include "common/server_config.h"
#include "reward/judge.h"

namespace dsrl {

// The weight of each signal in an item's total. A signal with weight 0 is not computed (nor reported).
struct SignalWeights {
  double rule = 0;                // 1 when the extracted answer matches the reference, else 0
  double format = 0;              // 1 when well-formed (format:), else 0
  double length = 0;              // the length penalty in [-1, 0] (length:)
  double language = 0;            // share of the response's letters in the target language
  double language_reasoning = 0;  // the same over the reasoning (<think> ... </think>) only
  double judge = 0;               // the generative reward model's score, normalised (judge:)
  double math_verifier = 0;       // DeepSeekMath-V2 verifier reward (math_v2:), reference = annotated score
  double math_generator = 0;      // DeepSeekMath-V2 generator reward (math_v2:), reference = the proof's score or
                                  // its claim (math_v2.proof_score)
  double code_tests = 0;          // 1 when the hidden tests (reference_answer) pass beside the item's files, run in
                                  // the sandbox (code_tests:), else 0
};
void describe(ConfigIO& io, SignalWeights& c);

struct RuleConfig {
  std::vector<std::string> extract = {"boxed", "answer_line", "last_number"};  // extractors, in order
  double tolerance = 1e-6;        // relative numeric tolerance (floor 1: |a - b| <= tol * max(1, |b|))
  bool case_insensitive = true;   // string answers
};
void describe(ConfigIO& io, RuleConfig& c);

struct FormatConfig {
  bool require_think = true;      // "[<think>] reasoning </think> answer" with a non-empty answer
  std::string wrapper = "none";   // none, boxed or answer_line: required in the answer
};
void describe(ConfigIO& io, FormatConfig& c);

struct LengthConfig {
  std::string mode = "none";      // none, linear (0 to -1 from budget to 2 x budget), overlong (soft overlong
                                  // penalty: 0 to -1 from budget - cache to budget)
  int64_t budget = 0;             // tokens; an item's length_budget overrides it
  int64_t cache = 0;              // overlong: the width of the ramp, tokens
};
void describe(ConfigIO& io, LengthConfig& c);

struct MathV2Config {
  std::string evaluation_marker = "Here is my evaluation of the solution:";
  std::string score_marker = "Based on my evaluation, the final overall score should be:";
  double alpha = 0.76;            // generator: weight of the proof's score
  double beta = 0.24;             // generator: weight of the self-analysis reward
  bool meta_verifier = false;     // R_meta from the meta-verifier (judge.meta_prompt on the judge) instead of 1
  // Where the generator's R_Y comes from: reference (reference_answer is the proof's score, 0, 0.5 or 1) or
  // derivation (reference_answer is the claim "EXPR = V" and agent/derivations.h grades the proof against it).
  std::string proof_score = "reference";
};
void describe(ConfigIO& io, MathV2Config& c);

struct TaskTypeConfig {
  SignalWeights weights;
  RuleConfig rule;
  FormatConfig format;
  LengthConfig length;
  MathV2Config math_v2;
  PythonToolConfig code_tests;    // the interpreter and sandbox limits the hidden tests run under
};
void describe(ConfigIO& io, TaskTypeConfig& c);

struct RewardServiceConfig {
  ServerConfig server;                              // where to listen
  LogConfig log;                                    // log level and file
  std::map<std::string, TaskTypeConfig> task_types;  // RewardItem.task_type -> its signals
  JudgeConfig judge;                                // the generative reward model and meta-verifier
  ClientAuthConfig client_auth;                     // token / TLS root for calling the judge's rollout worker
  int threads = 2;                                  // items of a batch scored in parallel
  int64_t max_items = 100000;                       // a larger batch is refused
  int64_t max_text_bytes = 1 << 20;                 // a larger prompt/response/reference/rubric fails its item
};
void describe(ConfigIO& io, RewardServiceConfig& c);

}  // namespace dsrl
