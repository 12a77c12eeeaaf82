#include "model/generate.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "common/error.h"
#include "model/kv_cache.h"

namespace dsrl {

std::vector<Generation> generate(DeepseekV32& model, const std::vector<std::vector<int64_t>>& prompts,
                                 const GenerateOptions& options) {
  const ModelConfig& c = model->config();
  const int64_t B = static_cast<int64_t>(prompts.size());
  DSRL_CHECK(B > 0, "generate: no prompts");
  int64_t longest = 0;
  for (const auto& p : prompts) {
    DSRL_CHECK(!p.empty(), "generate: an empty prompt");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(p.size()));
  }
  const int64_t capacity = std::min<int64_t>(longest + options.max_new_tokens, c.max_position_embeddings);
  DSRL_CHECK(longest < capacity, "generate: a prompt of {} tokens leaves no room in the context of {}", longest,
             c.max_position_embeddings);
  at::NoGradGuard no_grad;
  const at::Tensor probe = model->lm_head_weight();
  KVCache cache(c, B, capacity, probe.options());
  at::Generator gen = make_generator(probe.device(), options.seed);

  at::Tensor batch = at::zeros({B, longest}, at::kLong);
  std::vector<int64_t> valid(B);
  for (int64_t b = 0; b < B; ++b) {
    valid[b] = static_cast<int64_t>(prompts[b].size());
    batch[b].narrow(0, 0, valid[b]).copy_(at::tensor(prompts[b], at::kLong));
  }
  ForwardOptions forward;
  forward.cache = &cache;
  forward.valid = valid;
  at::Tensor logits = model->forward(batch.to(probe.device()), forward).logits;  // [B, longest, V]
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) rows.push_back(logits[b][valid[b] - 1]);
  at::Tensor last = at::stack(rows);  // [B, V]: each row's logits after its last prompt token

  std::vector<Generation> out(B);
  std::vector<bool> done(B, false);
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    at::Tensor row_logits = last.to(at::kFloat);  // [B, V] on the model's device
    if (options.vocab_limit > 0 && options.vocab_limit < row_logits.size(1))
      row_logits.narrow(1, options.vocab_limit, row_logits.size(1) - options.vocab_limit).fill_(-INFINITY);
    Sampled s = sample_tokens(row_logits, options.sampling, gen);
    const at::Tensor tokens = s.tokens.cpu(), logprobs = s.logprobs.cpu();  // one transfer per step
    const int64_t* token = tokens.data_ptr<int64_t>();
    const float* logprob = logprobs.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      out[b].tokens.push_back(token[b]);
      out[b].logprobs.push_back(logprob[b]);
      if (std::count(options.stop_token_ids.begin(), options.stop_token_ids.end(), token[b])) done[b] = out[b].stopped = true;
      if (cache.length(b) + 1 >= capacity) done[b] = true;
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    ForwardOptions decode;
    decode.cache = &cache;
    decode.valid.resize(B);
    for (int64_t b = 0; b < B; ++b) decode.valid[b] = done[b] ? 0 : 1;
    last = model->forward(s.tokens.view({B, 1}), decode).logits.select(1, 0);
  }
  return out;
}

}  // namespace dsrl
