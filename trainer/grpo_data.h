// Stage grpo's data (torch-free, library dsrl_trainer_data): the prompt mixture each step draws from, and the
// samples rank 0 hands to every rank (a compact binary form, broadcast over MPI).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trainer/grpo_config.h"

namespace dsrl {

struct GrpoPrompt {
  std::string user;       // the user message
  std::string text;       // rendered in the chat format, up to the open assistant turn: what the policy sees
  std::string answer;     // the reference answer ("" when the task has none)
  std::string rubric;     // the judge rubric ("" when none)
  std::map<std::string, std::string> files;  // a code task's repository (empty when none)
  int64_t task = 0;       // index into grpo.tasks
};

// A prompt for user message `user`, rendered in the chat format up to the open assistant turn.
GrpoPrompt make_prompt(const std::string& user, const std::string& answer, const std::string& rubric, int64_t task);

// The grpo.tasks mixture. Each step takes prompts from the tasks in proportion to their weights (largest
// remainder, so a step of B prompts has exactly B); each task walks its prompts in a seeded shuffled order, epoch
// after epoch. Held-out prompts (the first task's: another seed of its generator, or the last eval_prompts lines
// of its file, which training then skips) never come up in training draws of a file task.
class PromptMixture {
 public:
  explicit PromptMixture(const GrpoConfig& config);  // reads the files; throws dsrl::Error naming file and line
  std::vector<GrpoPrompt> next(int64_t count);
  const std::vector<GrpoPrompt>& held_out() const { return held_out_; }
  // {"tasks": [[epoch, next], ...]}: where each task's next draw is, for checkpoints.
  std::string position_json() const;
  void seek(const std::string& json, const std::string& where);
  std::string summary() const;  // "arithmetic: 300 prompts (weight 1)"

 private:
  struct Task {
    std::vector<GrpoPrompt> prompts;
    std::vector<int64_t> order;  // this epoch's permutation
    int64_t epoch = 0, next = 0;
    double weight = 1;
    std::string name;
  };
  void shuffle(Task& t, size_t index);
  std::vector<Task> tasks_;
  std::vector<GrpoPrompt> held_out_;
  uint64_t seed_;
};

// What rank 0 hands every rank for one sample.
struct GrpoSample {
  std::vector<int32_t> prompt, response;  // token ids; the response as generated (a final stop token included)
  std::vector<float> logprobs;            // behaviour log-probs, one per response token
  std::vector<std::string> masks;         // encoded kept sets, one per response token (empty: none recorded;
                                          // "" at a position with loss_mask 0)
  // One per response token: 1 where the model sampled it (trained), 0 for text put in the sequence around the
  // model's turns (tool results, the next turn's opening) in an agent trajectory. Empty: every token is trained.
  std::vector<uint8_t> loss_mask;
  int64_t vocab_size = 0;                 // of the masks
  std::vector<uint16_t> routes;           // [route_layers, prompt + response - 1, experts] (empty: none)
  int64_t route_layers = 0, experts = 0;
  float advantage = 0;
  float kl_beta = 0;
};

// One group's advantages: A_i = r_i - mean(r), divided by (std(r) + 1e-6) with std_normalize (the sample
// standard deviation). A group of equal rewards gets zeros.
std::vector<double> group_advantages(const std::vector<double>& rewards, bool std_normalize);

std::string pack_samples(const std::vector<GrpoSample>& samples);
// Throws dsrl::Error when the bytes are not what pack_samples writes.
std::vector<GrpoSample> unpack_samples(const std::string& bytes);

}  // namespace dsrl
