// dsrl-train's config (configs/<stage>.yaml). Stages arrive with their issues; today: preflight, lm, dense_warmup,
// sparse.
#pragma once

#include <string>
#include <vector>

#include "common/log.h"
#include "common/server_config.h"
#include "common/model_source.h"
#include "trainer/data_config.h"
#include "trainer/grpo_config.h"

namespace dsrl {

// Stage `preflight`: checks a cluster before a long job: the all-reduce on every rank (MPI on CPU, NCCL on
// GPU: correct sum and bandwidth) and that every service endpoint answers GetStatus.
struct PreflightConfig {
  std::vector<std::string> rollout_endpoints;  // host:port of dsrl-rollout workers to probe
  std::vector<std::string> reward_endpoints;   // host:port of dsrl-reward replicas to probe
  double deadline_s = 5;                       // per GetStatus call, seconds
  int allreduce_mb = 16;                       // size of the timed all-reduce buffer, MiB (fp32)
  int allreduce_iters = 5;                     // timed all-reduce repetitions (after one warm-up)
};
void describe(ConfigIO& io, PreflightConfig& c);

// AdamW with linear warm-up then cosine decay to min_lr. Matrices get weight decay; norms, biases and the
// embedding do not.
struct OptimConfig {
  double lr = 3e-4;          // peak learning rate
  double min_lr = 3e-5;      // learning rate at the end of the cosine
  int64_t warmup_steps = 10; // linear warm-up from 0, steps
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;    // clip the global gradient norm to this (0: no clipping)
  double router_bias_rate = 1e-3;  // aux-loss-free balancing: after each step every MoE layer's
                                   // e_score_correction_bias += rate * sign(mean load - expert load) (0: off)
  double seq_balance_alpha = 0;    // weight of DeepSeek-V3's sequence-wise balance loss, summed over MoE layers and
                                   // averaged over rows (0: off; the paper uses a very small one, e.g. 1e-4)
};
void describe(ConfigIO& io, OptimConfig& c);

// Stages dense_warmup and sparse: how the lightning indexer learns (KL to the main attention, docs/training.md).
struct IndexerTrainConfig {
  double lr = 1e-3;          // the indexer's peak learning rate (its own param groups; the schedule of `optim`
                             // scales it by the same factor as optim.lr)
  double kl_weight = 1.0;    // weight of the KL loss; in sparse training it is added to the LM loss, whose
                             // gradients never reach the indexer (and the KL's never reach the main model)
};
void describe(ConfigIO& io, IndexerTrainConfig& c);

// The training loop shared by the stages.
struct LoopConfig {
  int64_t steps = 100;            // optimizer steps of the whole run (the schedule spans them)
  int64_t stop_after = 0;         // stop after this step and checkpoint (0: run to `steps`); resume continues
  int64_t rows_per_rank = 4;      // packed rows of data.seq_len tokens per rank per forward (micro-batch)
  int64_t tokens_per_step = 0;    // gradient accumulation: tokens per optimizer step over all ranks; a multiple
                                  // of rows_per_rank * data.seq_len * ranks (0: one micro-batch per step)
  int64_t log_every = 1;          // one info line every N steps (rank 0)
  int64_t checkpoint_every = 0;   // checkpoint every N steps (0: only at the end)
  int64_t keep_checkpoints = 2;   // newest complete checkpoints kept
};
void describe(ConfigIO& io, LoopConfig& c);

struct TrainConfig {
  std::string stage = "preflight";  // what to run: preflight, lm, dense_warmup, sparse, grpo, synthesize, refine
  std::string device = "cpu";       // cpu (MPI all-reduce) or cuda (NCCL, one GPU per rank; -DDSRL_CUDA=ON)
  std::string run_dir;              // where the resolved config, metrics and checkpoints go;
                                    // empty: runs/<stage>-<UTC time>
  LogConfig log;                    // log level and file
  PreflightConfig preflight;        // stage preflight
  ModelSourceConfig model;          // training stages: the model to train
  std::string tokenizer = "byte";   // training stages: tokenizer.json (or its folder), or "byte"
  DataConfig data;                  // training stages: corpus, packing, order
  std::string attention = "auto";   // training stages: dense or sparse (DSA top-k) attention; auto: dense for lm
                                    // and dense_warmup (which needs it), sparse for sparse (which needs it) and
                                    // grpo (as the rollout workers sample)
  OptimConfig optim;                // training stages
  IndexerTrainConfig indexer;       // stages dense_warmup and sparse
  LoopConfig train;                 // training stages (grpo: steps, logging, checkpoints)
  GrpoConfig grpo;                  // stage grpo (and synthesize, refine: endpoints, sampling, grpo.agent)
  ClientAuthConfig client_auth;     // token / TLS root for calling the rollout workers and the reward service
  SynthConfig synth;                // stage synthesize
  RefineConfig refine;              // stage refine (an evaluation: sequential refinement of proofs)
};
void describe(ConfigIO& io, TrainConfig& c);

// Whether the stage's forward uses top-k sparse attention (resolves attention: auto).
bool sparse_attention(const TrainConfig& c);

}  // namespace dsrl
