// GRPO samples as padded tensors for one forward (torch side of trainer/grpo_data.h's GrpoSample).
// A sample of prompt P and response o (n tokens) is fed P + n - 1 tokens; position P - 1 + t predicts o_t, so the
// loss mask is 1 on positions [P - 1, P + n - 2] (where the sample's own loss_mask is 1). The routing trace covers
// exactly the fed tokens.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "trainer/grpo_data.h"

namespace dsrl {

struct GrpoMicroBatch {
  at::Tensor inputs;                // [B, S] int64, right-padded with 0
  at::Tensor targets;               // [B, S] int64 (0 where mask is 0)
  at::Tensor mask;                  // [B, S] fp32: 1 where the target is a trained response token
  at::Tensor old_logp;              // [B, S] fp32: the behaviour log-probs there (0 elsewhere)
  at::Tensor kept;                  // [B, S, V] bool: the recorded kept sets (every token elsewhere); undefined
                                    // when keep sampling mask is off
  std::vector<at::Tensor> routes;   // per MoE layer [B, S, k] int64 (padding 0); empty when keep routing is off
  at::Tensor advantages;            // [B] fp32
  at::Tensor betas;                 // [B] fp32 KL weights
  int64_t tokens = 0;               // trained response tokens (sum of mask)
};

// Builds the tensors on `device`. vocab: the model's (masks are checked against it). Throws dsrl::Error naming
// the sample when its masks, log-probs or routes do not fit its tokens.
GrpoMicroBatch make_micro_batch(const std::vector<const GrpoSample*>& samples, int64_t vocab, bool keep_mask,
                                bool keep_routing, const at::Device& device);

// Consecutive samples grouped so each group's padded size (rows x longest) stays within `budget` tokens (a
// longer sample alone makes its own group).
std::vector<std::vector<const GrpoSample*>> split_by_tokens(const std::vector<const GrpoSample*>& samples,
                                                            int64_t budget);

}  // namespace dsrl
