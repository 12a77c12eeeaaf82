#include "trainer/grpo_batch.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "model/sampling.h"
#include "proto/sampling_mask.h"

namespace dsrl {
namespace {

int64_t fed_length(const GrpoSample& s) {
  return static_cast<int64_t>(s.prompt.size() + s.response.size()) - 1;
}

}  // namespace

std::vector<std::vector<const GrpoSample*>> split_by_tokens(const std::vector<const GrpoSample*>& samples,
                                                            int64_t budget) {
  std::vector<std::vector<const GrpoSample*>> groups;
  int64_t longest = 0;
  for (const GrpoSample* s : samples) {
    const int64_t len = fed_length(*s);
    const int64_t rows = groups.empty() ? 0 : static_cast<int64_t>(groups.back().size());
    if (groups.empty() || (rows + 1) * std::max(longest, len) > budget) {
      groups.emplace_back();
      longest = 0;
    }
    groups.back().push_back(s);
    longest = std::max(longest, len);
  }
  return groups;
}

GrpoMicroBatch make_micro_batch(const std::vector<const GrpoSample*>& samples, int64_t vocab, bool keep_mask,
                                bool keep_routing, const at::Device& device) {
  const int64_t B = static_cast<int64_t>(samples.size());
  DSRL_CHECK(B > 0, "make_micro_batch: no samples");
  int64_t S = 1;
  for (const GrpoSample* s : samples) S = std::max(S, fed_length(*s));
  at::Tensor inputs = at::zeros({B, S}, at::kLong), targets = at::zeros({B, S}, at::kLong);
  at::Tensor mask = at::zeros({B, S}, at::kFloat), old = at::zeros({B, S}, at::kFloat);
  // Kept sets as packed bits (a position without a mask keeps every token), unpacked on the device.
  at::Tensor kept = keep_mask ? at::full({B, S, kept_bytes(vocab)}, 0xff, at::kByte) : at::Tensor();
  const int64_t layers = keep_routing ? samples[0]->route_layers : 0, k = keep_routing ? samples[0]->experts : 0;
  at::Tensor routes = keep_routing ? at::zeros({layers, B, S, k}, at::kLong) : at::Tensor();
  auto in = inputs.accessor<int64_t, 2>(), tg = targets.accessor<int64_t, 2>();
  auto mk = mask.accessor<float, 2>(), od = old.accessor<float, 2>();
  std::vector<float> advantages, betas;
  int64_t tokens = 0;
  for (int64_t b = 0; b < B; ++b) {
    const GrpoSample& s = *samples[b];
    const int64_t P = static_cast<int64_t>(s.prompt.size()), n = static_cast<int64_t>(s.response.size());
    DSRL_CHECK(P >= 1 && n >= 1, "sample {}: needs a prompt and a response, got {} and {} tokens", b, P, n);
    DSRL_CHECK(static_cast<int64_t>(s.logprobs.size()) == n, "sample {}: {} log-probs for {} response tokens", b,
               s.logprobs.size(), n);
    DSRL_CHECK(s.loss_mask.empty() || static_cast<int64_t>(s.loss_mask.size()) == n,
               "sample {}: a loss mask of {} for {} response tokens", b, s.loss_mask.size(), n);
    auto trained = [&](int64_t t) { return s.loss_mask.empty() || s.loss_mask[t] != 0; };
    std::vector<int64_t> seq(s.prompt.begin(), s.prompt.end());
    seq.insert(seq.end(), s.response.begin(), s.response.end());
    for (int64_t id : seq)
      DSRL_CHECK(id >= 0 && id < vocab, "sample {}: token id {} outside the model's vocabulary [0, {})", b, id, vocab);
    const int64_t fed = P + n - 1;
    for (int64_t j = 0; j < fed; ++j) in[b][j] = seq[j];
    for (int64_t t = 0; t < n; ++t) {
      tg[b][P - 1 + t] = seq[P + t];
      mk[b][P - 1 + t] = trained(t) ? 1.f : 0.f;
      od[b][P - 1 + t] = s.logprobs[t];
      tokens += trained(t);
    }
    if (keep_mask) {
      DSRL_CHECK(static_cast<int64_t>(s.masks.size()) == n, "sample {}: {} sampling masks for {} response tokens "
                 "(does the rollout record them?)", b, s.masks.size(), n);
      DSRL_CHECK(s.vocab_size == vocab, "sample {}: sampling masks over a vocabulary of {}, the model has {}", b,
                 s.vocab_size, vocab);
      for (int64_t t = 0; t < n; ++t) {
        if (!trained(t)) continue;  // inserted text: no kept set, every token allowed
        uint8_t* bits = kept.data_ptr<uint8_t>() + (b * S + P - 1 + t) * kept.size(2);
        decode_kept_bits(s.masks[t], vocab, bits);
        const int64_t token = seq[P + t];
        DSRL_CHECK((bits[token / 8] >> (token % 8)) & 1, "sample {}: response token {} ({}) is outside its "
                   "recorded kept set", b, t, token);
      }
    }
    if (keep_routing) {
      DSRL_CHECK(s.route_layers == layers && s.experts == k &&
                     static_cast<int64_t>(s.routes.size()) == layers * fed * k,
                 "sample {}: routing trace of {} ids ({} layers x k {}), expected {} layers x {} tokens x {} "
                 "(does the rollout record routes?)", b, s.routes.size(), s.route_layers, s.experts, layers, fed, k);
      at::Tensor r = at::from_blob(const_cast<uint16_t*>(s.routes.data()), {layers, fed, k}, at::kShort);
      routes.select(1, b).narrow(1, 0, fed).copy_(r.to(at::kInt).bitwise_and(0xffff).to(at::kLong));
    }
    advantages.push_back(s.advantage);
    betas.push_back(s.kl_beta);
  }
  GrpoMicroBatch mb;
  mb.inputs = inputs.to(device);
  mb.targets = targets.to(device);
  mb.mask = mask.to(device);
  mb.old_logp = old.to(device);
  if (keep_mask) mb.kept = unpack_kept_bits(kept.to(device), vocab);
  if (keep_routing)
    for (int64_t l = 0; l < layers; ++l) mb.routes.push_back(routes[l].to(device));
  mb.advantages = at::tensor(advantages, at::kFloat).to(device);
  mb.betas = at::tensor(betas, at::kFloat).to(device);
  mb.tokens = tokens;
  return mb;
}

}  // namespace dsrl
