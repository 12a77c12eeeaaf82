// Model behaviour on a tiny random model: decoding with the KV cache, MQA vs MHA, replay, config validation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/config.h"
#include "model/generate.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "model/moe.h"
#include "tests/model/model_fixture.h"

namespace dsrl {
namespace {

using testing::tiny_config;
using testing::tiny_model;

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// The indexer selections one row has made so far, per layer: one [index_topk] row per position, -1 padded.
struct SelectionLog {
  std::vector<std::vector<at::Tensor>> per_layer;

  void add(const std::vector<at::Tensor>& recorded, int64_t row, int64_t positions, int64_t width) {
    per_layer.resize(recorded.size());
    for (size_t l = 0; l < recorded.size(); ++l) {
      at::Tensor r = recorded[l][row].narrow(0, 0, positions);  // [positions, k <= width]
      at::Tensor padded = at::full({positions, width}, -1, at::kLong);
      padded.narrow(1, 0, r.size(1)).copy_(r);
      per_layer[l].push_back(padded);
    }
  }
  std::vector<at::Tensor> replay() const {  // per layer [1, positions, width]
    std::vector<at::Tensor> out;
    for (const auto& rows : per_layer) out.push_back(at::cat(rows, 0).unsqueeze(0));
    return out;
  }
};

// The selected keys as a sorted set, -1 dropped: [k] per position.
at::Tensor as_set(const at::Tensor& topk) { return std::get<0>(topk.sort(-1)); }

// Rows of different lengths: prefill a right-padded batch, then decode one token at a time past index_topk. Every
// step's logits must equal a full forward over the row's whole sequence that replays the selections the decode made
// (so a near-tie in the indexer, which rounds differently in a [1, T] and an [S, T] product, cannot flip a key);
// and the full forward's own selections must agree with the decode's almost everywhere.
TEST(Decode, IncrementalEqualsFullForwardAcrossTopkBoundary) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 7);
  at::NoGradGuard no_grad;
  const std::vector<int64_t> prompt = {5, 11};  // index_topk is 16; decoding runs to 30 tokens
  const int64_t total = 30, width = c.index_topk;
  at::Tensor seqs = at::randint(0, c.vocab_size, {2, total}, at::kLong);
  KVCache cache(c, 2, 64, at::TensorOptions().dtype(at::kFloat));
  EXPECT_EQ(cache.bytes(), cache.bytes_per_token() * 2 * 64) << "the per-token size the engine budgets with";
  SelectionLog log[2];
  // Prefill: [2, 11] with row 0 padded after 5 tokens.
  ForwardOptions pre;
  pre.cache = &cache;
  pre.valid = prompt;
  pre.record = true;
  ForwardResult prefill = model->forward(seqs.narrow(1, 0, 11), pre);
  for (int64_t b = 0; b < 2; ++b) {
    at::Tensor full = model->forward(seqs[b].narrow(0, 0, prompt[b]).unsqueeze(0)).logits[0];
    EXPECT_LE(max_diff(prefill.logits[b].narrow(0, 0, prompt[b]), full), 1e-5) << "prefill row " << b;
    log[b].add(prefill.indexer_topk, b, prompt[b], width);
  }
  // Decode: each row feeds its next token.
  int64_t compared = 0, agreed = 0;
  for (int64_t step = 0; step < total - prompt[1]; ++step) {
    std::vector<int64_t> pos = {cache.lengths()[0], cache.lengths()[1]};
    at::Tensor next = at::stack({seqs[0][pos[0]], seqs[1][pos[1]]}).view({2, 1});
    ForwardOptions dec;
    dec.cache = &cache;
    dec.record = true;
    ForwardResult decoded = model->forward(next, dec);  // logits [2, 1, V]
    for (int64_t b = 0; b < 2; ++b) {
      log[b].add(decoded.indexer_topk, b, 1, width);
      std::vector<at::Tensor> replay = log[b].replay();
      at::Tensor row = seqs[b].narrow(0, 0, pos[b] + 1).unsqueeze(0);
      ForwardOptions replayed;
      replayed.replay_topk = &replay;
      at::Tensor full = model->forward(row, replayed).logits[0][pos[b]];
      EXPECT_LE(max_diff(decoded.logits[b][0], full), 1e-5) << "row " << b << " position " << pos[b];
      ForwardOptions own;
      own.record = true;
      ForwardResult chosen = model->forward(row, own);
      for (size_t l = 0; l < replay.size(); ++l, ++compared) {
        at::Tensor mine = chosen.indexer_topk[l][0][pos[b]];
        agreed += at::equal(as_set(mine), as_set(replay[l][0][pos[b]].narrow(0, 0, mine.size(0))));
      }
    }
  }
  EXPECT_EQ(cache.lengths(), (std::vector<int64_t>{total - prompt[1] + 5, total}));
  EXPECT_GE(agreed, compared * 9 / 10) << "the decode's indexer selections differ from the full forward's";
}

// With the FP8 indexer the cache keeps each indexer key quantised once, as written (LayerKeys::index_k8): after a
// padded prefill, decode steps and a moved row, its copy equals the quantisation of the cached keys, and the cache's
// size is still the per-token size the engine budgets with.
TEST(Decode, Fp8IndexerKeysAreQuantisedOnceInTheCache) {
  ModelConfig c = tiny_config();
  c.indexer_fp8 = true;
  DeepseekV32 model = tiny_model(c, 5);
  at::NoGradGuard no_grad;
  KVCache cache(c, 3, 40, at::TensorOptions().dtype(at::kFloat));
  EXPECT_EQ(cache.bytes(), cache.bytes_per_token() * 3 * 40);
  at::Tensor seqs = at::randint(0, c.vocab_size, {3, 20}, at::kLong);
  ForwardOptions pre;
  pre.cache = &cache;
  pre.valid = {7, 12, 3};
  model->forward(seqs.narrow(1, 0, 12), pre);
  for (int64_t step = 0; step < 4; ++step) {
    ForwardOptions dec;
    dec.cache = &cache;
    model->forward(seqs.narrow(1, 12 + step, 1), dec);
  }
  cache.move_row(2, 0);  // row 2 (3 + 4 tokens) replaces row 0
  ASSERT_EQ(cache.lengths(), (std::vector<int64_t>{7, 16, 0}));
  cache.begin_append({0, 0, 0}, 1, at::kCPU);  // nothing new: append returns what is cached
  int64_t compared = 0, differ = 0;
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    LayerKeys keys = cache.append(layer, LayerKeys{});
    ASSERT_TRUE(keys.index_k8.defined() && keys.index_k_scale.defined()) << "layer " << layer;
    for (int64_t b = 0; b < 2; ++b) {
      const int64_t n = cache.lengths()[b];
      Fp8Blocks want = fp8_e4m3_quantize(hadamard_rotate(keys.index_k[b].narrow(0, 0, n)));
      at::Tensor values = keys.index_k8[b].narrow(0, 0, n).view(at::kByte);
      at::Tensor scales = keys.index_k_scale[b].narrow(0, 0, n);
      compared += values.numel();
      differ += (values != want.values.view(at::kByte)).sum().item<int64_t>();
      EXPECT_TRUE(at::equal(scales, want.scales.squeeze(-1))) << "layer " << layer << " row " << b;
    }
  }
  cache.advance();
  EXPECT_GT(compared, 0);
  EXPECT_LE(differ, compared / 1000) << "e4m3 values differ from quantising the cached keys";
}

// The selected keys without the -1 padding, sorted (selections over different key counts differ in width).
at::Tensor key_set(const at::Tensor& topk) { return std::get<0>(topk.masked_select(topk >= 0).sort()); }

// The fixed-shape decode (decode_lengths: keys over the whole capacity, lengths on the device, CUDA-graph
// capturable) against the appending one, from the same prefill: replaying the appending step's selections it gives
// the same logits, its own selections agree almost everywhere, and grow() moves the lengths as advance() does.
TEST(Decode, FixedShapeEqualsAppending) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 9);
  at::NoGradGuard no_grad;
  const int64_t total = 28;
  at::Tensor seqs = at::randint(0, c.vocab_size, {3, total}, at::kLong);
  KVCache appending(c, 3, 48, at::TensorOptions().dtype(at::kFloat)), fixed(c, 3, 48, at::TensorOptions().dtype(at::kFloat));
  const std::vector<int64_t> prompt = {4, 9, 6};
  for (KVCache* cache : {&appending, &fixed}) {
    ForwardOptions pre;
    pre.cache = cache;
    pre.valid = prompt;
    model->forward(seqs.narrow(1, 0, 9), pre);
  }
  int64_t compared = 0, agreed = 0;
  for (int64_t step = 0; step < total - 9; ++step) {
    const std::vector<int64_t> pos = appending.lengths();
    ASSERT_EQ(fixed.lengths(), pos);
    at::Tensor next = at::stack({seqs[0][pos[0]], seqs[1][pos[1]], seqs[2][pos[2]]}).view({3, 1});
    ForwardOptions dec;
    dec.cache = &appending;
    dec.record = true;
    ForwardResult a = model->forward(next, dec);
    ForwardOptions fix;
    fix.cache = &fixed;
    fix.decode_lengths = at::tensor(pos, at::kLong);
    fix.record = true;
    ForwardResult own = model->forward(next, fix);  // its own selections
    fix.replay_topk = &a.indexer_topk;
    fix.record = false;
    ForwardResult replayed = model->forward(next, fix);  // rewrites the same slots with the same entries
    for (int64_t b = 0; b < 3; ++b) fixed.grow(b);
    EXPECT_LE(max_diff(replayed.logits, a.logits), 1e-5) << "step " << step;
    for (size_t l = 0; l < a.indexer_topk.size(); ++l)
      for (int64_t b = 0; b < 3; ++b, ++compared)
        agreed += at::equal(key_set(own.indexer_topk[l][b][0]), key_set(a.indexer_topk[l][b][0]));
  }
  EXPECT_EQ(fixed.lengths(), appending.lengths());
  EXPECT_GE(agreed, compared * 9 / 10) << "fixed-shape selections differ from the appending decode's";
}

TEST(Attention, MqaEqualsMhaOverTheSameSelection) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 3);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 40}, at::kLong);
  for (bool sparse : {true, false}) {
    ForwardOptions mha, mqa;
    mha.impl = AttentionImpl::kMHA;
    mqa.impl = AttentionImpl::kMQA;
    mha.sparse = mqa.sparse = sparse;
    EXPECT_LE(max_diff(model->forward(tokens, mha).logits, model->forward(tokens, mqa).logits), 1e-5)
        << (sparse ? "sparse" : "dense");
  }
  // And sparse really differs from dense at 40 tokens with index_topk 16.
  ForwardOptions dense;
  dense.sparse = false;
  EXPECT_GT(max_diff(model->forward(tokens).logits, model->forward(tokens, dense).logits), 1e-3);
}

TEST(Attention, TopkAtLeastSequenceIsDense) {
  ModelConfig c = tiny_config();
  c.index_topk = 64;
  DeepseekV32 model = tiny_model(c, 4);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::randint(0, c.vocab_size, {1, 40}, at::kLong);
  ForwardOptions dense;
  dense.sparse = false;
  EXPECT_LE(max_diff(model->forward(tokens).logits, model->forward(tokens, dense).logits), 1e-6);
}

TEST(Replay, RecordedTraceReproducesOutputAndTrace) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 5);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 40}, at::kLong);
  ForwardOptions record;
  record.record = true;
  ForwardResult first = model->forward(tokens, record);
  ASSERT_EQ(first.expert_ids.size(), 2u);
  ASSERT_EQ(first.indexer_topk.size(), 3u);
  ForwardOptions replay = record;
  replay.replay_experts = &first.expert_ids;
  replay.replay_topk = &first.indexer_topk;
  ForwardResult again = model->forward(tokens, replay);
  EXPECT_TRUE(at::equal(first.logits, again.logits));
  for (size_t i = 0; i < first.expert_ids.size(); ++i) EXPECT_TRUE(at::equal(first.expert_ids[i], again.expert_ids[i]));
  for (size_t i = 0; i < first.indexer_topk.size(); ++i)
    EXPECT_TRUE(at::equal(first.indexer_topk[i], again.indexer_topk[i]));
}

TEST(Replay, AfterAWeightChangeReplayKeepsTheRecordedExperts) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 6);
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 24}, at::kLong);
  ForwardOptions record;
  record.record = true;
  ForwardResult before;
  {
    at::NoGradGuard no_grad;
    before = model->forward(tokens, record);
    // Push every router towards other experts: free routing now picks differently.
    for (auto& b : model->named_buffers()) b.value().copy_(at::randn(b.value().sizes()) * 5);
  }
  ForwardResult free_run, replayed;
  {
    at::NoGradGuard no_grad;
    free_run = model->forward(tokens, record);
  }
  bool changed = false;
  for (size_t i = 0; i < before.expert_ids.size(); ++i) changed |= !at::equal(before.expert_ids[i], free_run.expert_ids[i]);
  ASSERT_TRUE(changed) << "the bias change should move free routing";
  ForwardOptions replay = record;
  replay.replay_experts = &before.expert_ids;
  replayed = model->forward(tokens, replay);
  for (size_t i = 0; i < before.expert_ids.size(); ++i) EXPECT_TRUE(at::equal(before.expert_ids[i], replayed.expert_ids[i]));
  // Gradients reach exactly the replayed experts (rows of the stacked weights), nothing else.
  replayed.logits.sum().backward();
  for (size_t layer = 1; layer < 3; ++layer) {
    std::string name = "model.layers." + std::to_string(layer) + ".mlp.experts.gate_proj";
    at::Tensor grad = model->named_parameters()[name].grad();
    at::Tensor used = at::zeros({c.n_routed_experts}, at::kBool);
    used.index_put_({before.expert_ids[layer - 1].flatten()}, true);
    at::Tensor touched = grad.abs().flatten(1).amax(1) > 0;
    EXPECT_TRUE(at::equal(touched, used)) << name << ": touched " << touched << " used " << used;
  }
}

TEST(Replay, RejectsMalformedTraces) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 8);
  at::NoGradGuard no_grad;
  at::Tensor tokens = at::randint(0, c.vocab_size, {1, 8}, at::kLong);
  std::vector<at::Tensor> one = {at::zeros({1, 8, 2}, at::kLong)};
  ForwardOptions o;
  o.replay_experts = &one;  // 2 MoE layers expected
  EXPECT_THROW(model->forward(tokens, o), Error);
  std::vector<at::Tensor> out_of_range = {at::full({1, 8, 2}, 99, at::kLong), at::zeros({1, 8, 2}, at::kLong)};
  o.replay_experts = &out_of_range;
  EXPECT_THROW(model->forward(tokens, o), c10::Error);
}

// The sequence-wise balance term against the formula written out per sequence, its value at an even load, and the
// forward that returns it per MoE layer with a gradient through the routers' affinities.
TEST(MoEBalance, SequenceTermMatchesTheFormula) {
  at::manual_seed(2);
  const int64_t B = 2, S = 6, E = 4, k = 2;
  at::Tensor scores = at::sigmoid(at::randn({B, S, E}));
  at::Tensor ids = std::get<1>(scores.topk(k, -1));
  at::Tensor got = sequence_balance(scores, ids);
  for (int64_t b = 0; b < B; ++b) {
    double want = 0;
    for (int64_t i = 0; i < E; ++i) {
      const double f = (ids[b] == i).sum().item<double>() * E / (k * S);
      const double p = (scores[b].select(-1, i) / scores[b].sum(-1)).mean().item<double>();
      want += f * p;
    }
    EXPECT_NEAR(got[b].item<double>(), want, 1e-6) << "row " << b;
  }
  // Even load and equal affinities: the minimum, 1.
  at::Tensor even_ids = at::arange(S * k).remainder(E).view({1, S, k});
  EXPECT_NEAR(sequence_balance(at::full({1, S, E}, 0.5), even_ids).item<double>(), 1.0, 1e-6);
}

TEST(MoEBalance, ForwardReturnsOneTermPerMoeLayer) {
  ModelConfig c = tiny_config();
  DeepseekV32 model = tiny_model(c, 9);
  at::Tensor tokens = at::randint(0, c.vocab_size, {3, 20}, at::kLong);
  ForwardOptions o;
  o.balance_loss = true;
  ForwardResult out = model->forward(tokens, o);
  ASSERT_EQ(out.balance.size(), static_cast<size_t>(c.num_moe_layers()));
  EXPECT_EQ(out.balance[0].sizes(), (std::vector<int64_t>{3}));
  at::stack(out.balance).sum().backward();
  // It reaches every router (and what feeds them), never what only comes after the last router.
  const std::string last_experts = fmt::format("model.layers.{}.mlp.experts.", c.num_hidden_layers - 1);
  int64_t routers_reached = 0;
  for (auto& p : model->named_parameters()) {
    const bool reached = p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0;
    if (p.key().find("mlp.gate.weight") != std::string::npos) routers_reached += reached;
    const bool after = p.key().rfind(last_experts, 0) == 0 || p.key().rfind("lm_head", 0) == 0 ||
                       p.key() == "model.norm.weight";
    EXPECT_FALSE(after && reached) << "the balance term reached " << p.key();
  }
  EXPECT_EQ(routers_reached, c.num_moe_layers());
}

TEST(ModelConfigCheck, RejectsInconsistentShapes) {
  auto error = [](const std::string& yaml) {
    try {
      ModelConfig c = parse_config<ModelConfig>(YAML::Load(yaml), "m.yaml");
      validate_model_config(c, "m.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("n_routed_experts: 10\nn_group: 4").find("m.yaml: n_group must divide n_routed_experts (10), got 4"),
            std::string::npos);
  EXPECT_NE(error("num_experts_per_tok: 9").find("num_experts_per_tok must be <= topk_group * experts per group (8)"),
            std::string::npos);
  EXPECT_NE(error("qk_rope_head_dim: 7").find("qk_rope_head_dim must be even"), std::string::npos);
  EXPECT_NE(error("num_experts_per_tok: 300").find("num_experts_per_tok must be in [1, 64], got 300"), std::string::npos);
  EXPECT_EQ(error(""), "");
}

TEST(ModelConfigCheck, CountsParametersLikeTheModel) {
  ModelConfig c = tiny_config();
  DeepseekV32 model(c);
  int64_t total = 0;
  for (const auto& p : model->parameters()) total += p.numel();
  auto [counted, active] = count_parameters(c);
  EXPECT_EQ(counted, total);
  EXPECT_LT(active, total);
}

}  // namespace
}  // namespace dsrl

namespace dsrl {
namespace {

// The cached generation loop's log-probs equal those of one full forward over the finished sequence, restricted
// to the same top-k set at the same temperature.
TEST(Generate, LogprobsMatchAFullForward) {
  ModelConfig c = testing::tiny_config();
  DeepseekV32 model = testing::tiny_model(c, 21);
  GenerateOptions o;
  o.max_new_tokens = 24;  // runs past index_topk = 16
  o.sampling = SamplingParams{0.8, 5, 1.0};
  o.seed = 4;
  std::vector<std::vector<int64_t>> prompts = {{3, 4, 5}, {9, 8, 7, 6, 5, 4, 3}};
  std::vector<Generation> out = generate(model, prompts, o);
  at::NoGradGuard no_grad;
  for (size_t b = 0; b < prompts.size(); ++b) {
    ASSERT_EQ(out[b].tokens.size(), 24u);
    std::vector<int64_t> seq = prompts[b];
    seq.insert(seq.end(), out[b].tokens.begin(), out[b].tokens.end());
    at::Tensor logits = model->forward(at::tensor(seq, at::kLong).unsqueeze(0)).logits[0];  // [T, V]
    const int64_t P = static_cast<int64_t>(prompts[b].size());
    at::Tensor rows = logits.narrow(0, P - 1, 24);
    at::Tensor kth = std::get<0>(rows.topk(5, -1)).select(-1, 4).unsqueeze(-1);
    at::Tensor logp = masked_log_softmax(rows, rows >= kth, 0.8);
    at::Tensor picked = logp.gather(1, at::tensor(out[b].tokens, at::kLong).unsqueeze(1)).squeeze(1);
    EXPECT_TRUE(at::allclose(picked, at::tensor(out[b].logprobs), 1e-4, 1e-5)) << "row " << b;
  }
}

}  // namespace
}  // namespace dsrl
