// Checkpoints of the model: save/load round trips, transformers reading what we write, malformed checkpoints;
// the FP8 indexer simulation; sampling; the dsrl-model tool.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "model/checkpoint.h"
#include "common/error.h"
#include "model/checkpoint_io.h"
#include "model/sampling.h"
#include "tests/model/model_fixture.h"
#include "tests/services/process.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

using testing::error_of;

namespace fs = std::filesystem;
using testing::tiny_config;
using testing::tiny_model;

std::string scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("dsrl_model_io_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

at::Tensor logits_of(DeepseekV32& model, const at::Tensor& tokens) {
  at::NoGradGuard no_grad;
  return model->forward(tokens).logits;
}

TEST(ModelCheckpoint, SaveLoadIsBitExactAlsoSharded) {
  DeepseekV32 model = tiny_model(tiny_config(), 11);
  at::Tensor tokens = at::randint(0, 128, {2, 30}, at::kLong);
  for (uint64_t shard : {uint64_t(5) << 30, uint64_t(100000)}) {
    const std::string dir = scratch("roundtrip" + std::to_string(shard));
    save_model(model, dir, at::ScalarType::Undefined, shard);
    EXPECT_EQ(fs::exists(dir + "/model.safetensors.index.json"), shard < 1000000);
    DeepseekV32 loaded = load_model(dir, at::kCPU, at::kFloat);
    EXPECT_TRUE(at::equal(logits_of(model, tokens), logits_of(loaded, tokens)));
  }
}

TEST(ModelCheckpoint, TransformersReadsWhatWeWrite) {
  DeepseekV32 model = tiny_model(tiny_config(), 12);
  const std::string dir = scratch("for_hf");
  save_model(model, dir);
  std::vector<int64_t> ids;
  std::string csv;
  for (int i = 0; i < 36; ++i) ids.push_back((i * 37 + 5) % 128), csv += (i ? "," : "") + std::to_string(ids.back());
  const std::string out = dir + "/hf_logits.safetensors";
  const std::string cmd = "python3 " DSRL_SOURCE_DIR "/scripts/hf-logits.py " + dir + " " + csv + " " + out +
                          " > " + dir + "/hf.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "see " << dir << "/hf.log";
  at::Tensor hf = CheckpointReader(out).load("logits");
  at::Tensor ours = logits_of(model, at::tensor(ids, at::kLong).unsqueeze(0))[0];
  EXPECT_LE((hf - ours).abs().max().item<double>(), 1e-4);
}

TEST(ModelCheckpoint, MalformedCheckpointsNameFileAndTensor) {
  DeepseekV32 model = tiny_model(tiny_config(), 13);
  const std::string good = scratch("good");
  save_model(model, good);
  // Missing tensor: rewrite the weights without one.
  const std::string missing = scratch("missing");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] : checkpoint_tensors(model))
    if (name != "model.layers.1.mlp.experts.3.up_proj.weight") tensors.emplace_back(name, t.detach().contiguous());
  save_checkpoint_tensors(missing, tensors);
  fs::copy_file(good + "/config.json", missing + "/config.json");
  std::string msg = error_of([&] { load_model(missing, at::kCPU, at::kFloat); });
  EXPECT_NE(msg.find("has no tensor model.layers.1.mlp.experts.3.up_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  // Shape mismatch: a config that disagrees with the weights.
  const std::string shape = scratch("shape");
  for (const auto& f : fs::directory_iterator(good)) fs::copy_file(f.path(), shape + "/" + f.path().filename().string());
  ModelConfig wrong = tiny_config();
  wrong.moe_intermediate_size = 40;
  save_model_config(wrong, shape + "/config.json");
  msg = error_of([&] { load_model(shape, at::kCPU, at::kFloat); });
  EXPECT_NE(msg.find("mlp.experts.0.gate_proj.weight"), std::string::npos) << msg;
  // Truncated weights file.
  const std::string cut = scratch("truncated");
  for (const auto& f : fs::directory_iterator(good)) fs::copy_file(f.path(), cut + "/" + f.path().filename().string());
  fs::resize_file(cut + "/model.safetensors", fs::file_size(cut + "/model.safetensors") / 2);
  msg = error_of([&] { load_model(cut, at::kCPU, at::kFloat); });
  EXPECT_NE(msg.find(cut + "/model.safetensors"), std::string::npos) << msg;
  // A config.json that is not JSON, and one asking for maths we do not implement.
  std::ofstream(cut + "/config.json") << "{ not json";
  EXPECT_NE(error_of([&] { load_model(cut, at::kCPU, at::kFloat); }).find("config.json: not valid JSON"), std::string::npos);
  std::ofstream(cut + "/config.json") << R"({"hidden_act": "gelu"})";
  EXPECT_NE(error_of([&] { load_model(cut, at::kCPU, at::kFloat); }).find("hidden_act must be \"silu\""),
            std::string::npos);
}

TEST(Fp8Indexer, QuantisationAndHadamardBehave) {
  at::Tensor x = at::randn({4, 64}) * 3;
  at::Tensor h = hadamard_rotate(x);
  EXPECT_TRUE(at::allclose(h.norm(2, -1), x.norm(2, -1), 1e-4, 1e-4)) << "orthonormal rotation keeps norms";
  EXPECT_TRUE(at::allclose(hadamard_rotate(h), x, 1e-4, 1e-4)) << "the normalised Hadamard is its own inverse";
  at::Tensor q = fp8_e4m3_roundtrip(x);
  EXPECT_TRUE(at::equal(fp8_e4m3_roundtrip(q), q)) << "dequantised values are representable";
  EXPECT_LE(((q - x).abs() / x.abs().clamp_min(1e-3)).median().item<double>(), 0.07) << "e4m3 keeps ~3 mantissa bits";
  at::Tensor leaf = x.clone().requires_grad_();
  at::Tensor through = fp8_e4m3_roundtrip(leaf);
  EXPECT_TRUE(at::equal(through, q)) << "the same values with gradient on";
  through.mul(at::arange(64)).sum().backward();
  EXPECT_TRUE(at::equal(leaf.grad(), at::arange(64).to(at::kFloat).expand({4, 64}))) << "straight-through gradient";
  // What the FP8 kernels take: e4m3 values and one power-of-two scale per block, which multiply back to q.
  Fp8Blocks blocks = fp8_e4m3_quantize(at::cat({x, x * 1000}, -1), 64);  // [4, 128], two blocks of 64 per row
  ASSERT_EQ(blocks.values.scalar_type(), at::kFloat8_e4m3fn);
  ASSERT_EQ(blocks.scales.sizes(), (std::vector<int64_t>{4, 2}));
  EXPECT_TRUE(at::equal(at::exp2(at::round(at::log2(blocks.scales))), blocks.scales)) << "powers of two";
  at::Tensor values = blocks.values.to(at::kFloat);
  EXPECT_LE(values.abs().max().item<double>(), 448.0);
  EXPECT_GE(values.view({4, 2, 64}).abs().amax(-1).min().item<double>(), 224.0)
      << "each block's largest value lands in the top binade";
  EXPECT_TRUE(at::equal(values.narrow(1, 0, 64) * blocks.scales.narrow(1, 0, 1), q)) << "values x scales = roundtrip";
}

TEST(Fp8Indexer, SelectionStaysCloseToFullPrecision) {
  ModelConfig c = tiny_config();
  DeepseekV32 exact = tiny_model(c, 14);
  c.indexer_fp8 = true;
  DeepseekV32 fp8(c);
  {
    at::NoGradGuard no_grad;
    auto src = exact->named_parameters();
    for (auto& p : fp8->named_parameters()) p.value().copy_(src[p.key()]);
    auto bufs = exact->named_buffers();
    for (auto& b : fp8->named_buffers()) b.value().copy_(bufs[b.key()]);
  }
  at::Tensor tokens = at::randint(0, c.vocab_size, {2, 48}, at::kLong);
  ForwardOptions record;
  record.record = true;
  at::NoGradGuard no_grad;
  auto a = exact->forward(tokens, record), b = fp8->forward(tokens, record);
  // Share of the exact top-k that the fp8 indexer also selects, over the first layer's queries with > k keys.
  at::Tensor sa = selection_mask(a.indexer_topk[0], 48), sb = selection_mask(b.indexer_topk[0], 48);
  const double overlap = (sa & sb).sum().item<double>() / sa.sum().item<double>();
  EXPECT_GE(overlap, 0.9);
  EXPECT_LT(overlap, 1.0 + 1e-9);
}

TEST(Sampling, KeptSetsAndLogprobs) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  at::Tensor logits = at::randn({3, 50});
  SamplingParams greedy{0.0, 0, 1.0};
  Sampled g = sample_tokens(logits, greedy, gen);
  EXPECT_TRUE(at::equal(g.tokens, logits.argmax(-1)));
  EXPECT_EQ(g.kept.sum().item<int64_t>(), 3);
  SamplingParams topk{0.7, 5, 1.0};
  Sampled k = sample_tokens(logits, topk, gen);
  EXPECT_TRUE(at::equal(k.kept.sum(-1), at::full({3}, 5, at::kLong)));
  EXPECT_TRUE(k.kept.gather(1, k.tokens.unsqueeze(1)).all().item<bool>());
  at::Tensor expected = masked_log_softmax(logits, k.kept, 0.7).gather(1, k.tokens.unsqueeze(1)).squeeze(1);
  EXPECT_TRUE(at::allclose(k.logprobs, expected));
  // top-p: the kept set is the smallest most-likely prefix with mass >= p.
  SamplingParams topp{1.0, 0, 0.8};
  Sampled p = sample_tokens(logits, topp, gen);
  at::Tensor probs = at::softmax(logits, -1);
  for (int64_t r = 0; r < 3; ++r) {
    at::Tensor kept_mass = (probs[r] * p.kept[r]).sum();
    EXPECT_GE(kept_mass.item<double>(), 0.8 - 1e-6);
    at::Tensor smallest_kept = probs[r].masked_fill(p.kept[r].logical_not(), 2.0).min();
    EXPECT_LT((kept_mass - smallest_kept).item<double>(), 0.8) << "dropping the least likely kept token falls short";
  }
  auto gen_a = at::make_generator<at::CPUGeneratorImpl>(9), gen_b = at::make_generator<at::CPUGeneratorImpl>(9);
  EXPECT_TRUE(at::equal(sample_tokens(logits, topp, gen_a).tokens, sample_tokens(logits, topp, gen_b).tokens));
  EXPECT_THROW(sample_tokens(logits, SamplingParams{-1.0, 0, 1.0}, gen), Error);
}

TEST(ModelTool, InfoLogitsGenerateAndErrors) {
  ModelConfig c = tiny_config();
  c.vocab_size = 300;  // room for the byte tokenizer
  c.eos_token_id = 257;
  DeepseekV32 model = tiny_model(c, 15);
  const std::string dir = scratch("tool");
  save_model(model, dir);
  auto r = dsrl::testing::run_process(DSRL_MODEL_BIN, {"info", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto [total, active] = count_parameters(c);
  EXPECT_NE(r.out.find(fmt::format("{:.3f} M total", total / 1e6)), std::string::npos) << r.out;
  r = dsrl::testing::run_process(DSRL_MODEL_BIN, {"logits", dir, "--tokens", "1,2,3", "--out", dir + "/l.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  at::Tensor saved = CheckpointReader(dir + "/l.safetensors").load("logits");
  EXPECT_TRUE(at::allclose(saved, logits_of(model, at::tensor(std::vector<int64_t>{1, 2, 3}).unsqueeze(0))[0]));
  std::vector<std::string> gen = {"generate", dir, "--prompt", "hello", "--max-new", "6", "--seed", "3", "--top-p", "0.9"};
  auto first = dsrl::testing::run_process(DSRL_MODEL_BIN, gen), second = dsrl::testing::run_process(DSRL_MODEL_BIN, gen);
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, second.out) << "same seed, same text";
  EXPECT_NE(first.err.find("5 prompt tokens"), std::string::npos) << first.err;
  r = dsrl::testing::run_process(DSRL_MODEL_BIN, {"logits", dir, "--tokens", "1,x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--tokens must be comma-separated integers, got 'x'"), std::string::npos) << r.err;
  r = dsrl::testing::run_process(DSRL_MODEL_BIN, {"logits", dir, "--tokens", "1,999"});
  EXPECT_NE(r.err.find("token 999 is outside the vocabulary [0, 300)"), std::string::npos) << r.err;
  // init: a random checkpoint from our YAML that loads back; a bad config is refused naming the key.
  r = dsrl::testing::run_process(DSRL_MODEL_BIN, {"init", dir + "/fresh", "--config", DSRL_SOURCE_DIR "/configs/model/tiny.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(load_model(dir + "/fresh", at::kCPU, at::kFloat)->config().hidden_size, 128);
  std::ofstream(dir + "/bad.yaml") << "n_routed_experts: 10\nn_group: 4\n";
  r = dsrl::testing::run_process(DSRL_MODEL_BIN, {"init", dir + "/bad", "--config", dir + "/bad.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("n_group must divide n_routed_experts (10), got 4"), std::string::npos) << r.err;
  r = dsrl::testing::run_process(DSRL_MODEL_BIN, {"info", "/nonexistent"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dsrl

namespace dsrl {
namespace {

// Regression for build trap 4: libtorch.so exports its own std::filesystem, which crashed in remove_all when our
// binaries bound to it. They must bind to libstdc++ (cmake/Dependencies.cmake): a nested tree, with and without
// an error_code, and a recursive iteration, from a torch-linked process.
TEST(TorchLinkedFilesystem, RemoveAllAndIterateNestedTrees) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("dsrl_fs_" + std::to_string(::getpid()));
  for (int round = 0; round < 2; ++round) {
    fs::create_directories(root / "a" / "b" / "c");
    std::ofstream(root / "a" / "f.txt") << "x";
    std::ofstream(root / "a" / "b" / "c" / "g.txt") << "y";
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(root)) files += entry.is_regular_file();
    EXPECT_EQ(files, 2);
    std::error_code ec;
    EXPECT_EQ(round == 0 ? fs::remove_all(root) : fs::remove_all(root, ec), 6u);
    EXPECT_FALSE(fs::exists(root));
  }
}

}  // namespace
}  // namespace dsrl
