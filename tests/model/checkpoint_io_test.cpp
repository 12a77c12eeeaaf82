// Checkpoint folders: single-file and sharded round trips (bit-identical), load_into's conversions and shape
// check, and broken checkpoints (missing tensor, missing shard, index naming a tensor its shard lacks).
#include "model/checkpoint_io.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "common/error.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

using testing::error_of;

namespace fs = std::filesystem;
using Named = std::vector<std::pair<std::string, at::Tensor>>;

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

// Same dtype, same shape, same bytes.
void expect_bit_identical(const at::Tensor& got, const at::Tensor& want, const std::string& name) {
  at::Tensor a = got.contiguous().cpu(), b = want.contiguous().cpu();
  ASSERT_EQ(a.scalar_type(), b.scalar_type()) << name;
  ASSERT_EQ(a.sizes(), b.sizes()) << name;
  ASSERT_EQ(a.nbytes(), b.nbytes()) << name;
  EXPECT_EQ(std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()), 0) << name << ": bytes differ";
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Named all_dtypes() {
  at::manual_seed(0);
  at::Tensor f32 = at::randn({3, 4});
  return {{"model.embed_tokens.weight", f32},
          {"bf16", at::randn({5, 2}).to(at::kBFloat16)},
          {"f16", at::randn({2, 3, 2}).to(at::kHalf)},
          {"fp8", (at::randn({16}) * 8).to(at::kFloat8_e4m3fn)},
          {"i32", at::arange(-6, 6, at::kInt).reshape({3, 4})},
          {"i64", at::tensor({INT64_MIN, int64_t(-1), int64_t(0), INT64_MAX}, at::kLong)},
          {"mask", at::randn({7}) > 0},
          {"scalar", at::scalar_tensor(2.5)},
          {"empty", at::zeros({0, 3}, at::kBFloat16)},
          {"transposed", f32.t()}};  // non-contiguous
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("dsrl_ckpt_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // 5 fp32 tensors of 4 KB and one of 12 KB, saved with 10000-byte shards -> 4 shards.
  Named save_sharded() {
    Named tensors;
    for (int i = 0; i < 5; ++i) tensors.push_back({"layers." + std::to_string(i) + ".w", at::randn({1024})});
    tensors.insert(tensors.begin() + 2, {"big", at::randn({3, 1024})});
    save_checkpoint_tensors(dir_.string(), tensors, 10000);
    return tensors;
  }
  void rewrite_index(const std::function<void(nlohmann::json&)>& edit) {
    fs::path path = dir_ / "model.safetensors.index.json";
    nlohmann::json index = nlohmann::json::parse(std::ifstream(path));
    edit(index);
    std::ofstream(path) << index.dump();
  }

  fs::path dir_;
};

TEST_F(CheckpointTest, SingleFileRoundTripIsBitIdentical) {
  Named tensors = all_dtypes();
  save_checkpoint_tensors(dir_.string(), tensors);
  EXPECT_EQ(files_in(dir_), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(SafetensorsFile::open((dir_ / "model.safetensors").string()).metadata().at("format"), "pt");

  for (const std::string& path : {dir_.string(), (dir_ / "model.safetensors").string()}) {
    CheckpointReader ckpt(path);
    EXPECT_EQ(ckpt.names().size(), tensors.size());
    for (const auto& [name, t] : tensors) {
      ASSERT_TRUE(ckpt.has(name)) << name;
      EXPECT_EQ(ckpt.file_of(name), (dir_ / "model.safetensors").string());
      expect_bit_identical(ckpt.load(name), t, name);
    }
  }
}

TEST_F(CheckpointTest, ShardedSaveLoadsThroughTheIndex) {
  Named tensors = save_sharded();
  EXPECT_EQ(files_in(dir_), (std::vector<std::string>{
                                "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                                "model.safetensors.index.json"}));
  nlohmann::json index = nlohmann::json::parse(std::ifstream(dir_ / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], 5 * 4096 + 12288);
  EXPECT_EQ(index["weight_map"].size(), 6u);
  EXPECT_EQ(index["weight_map"]["layers.0.w"], "model-00001-of-00004.safetensors");
  EXPECT_EQ(index["weight_map"]["big"], "model-00002-of-00004.safetensors") << "an oversized tensor: its own shard";
  EXPECT_EQ(index["weight_map"]["layers.4.w"], "model-00004-of-00004.safetensors");

  CheckpointReader ckpt(dir_.string());
  EXPECT_EQ(ckpt.names().size(), 6u);
  EXPECT_EQ(ckpt.file_of("layers.2.w"), (dir_ / "model-00003-of-00004.safetensors").string());
  for (const auto& [name, t] : tensors) expect_bit_identical(ckpt.load(name), t, name);

  // Saving again as one file replaces the shards and the index.
  save_checkpoint_tensors(dir_.string(), {{"only", at::ones({2})}});
  EXPECT_EQ(files_in(dir_), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(CheckpointReader(dir_.string()).names(), std::vector<std::string>{"only"});
}

TEST_F(CheckpointTest, LoadIntoConvertsDtypeAndChecksShape) {
  at::Tensor stored = at::randn({2, 3}).to(at::kBFloat16);
  save_checkpoint_tensors(dir_.string(), {{"w", stored}, {"f", at::randn({4})}});
  CheckpointReader ckpt(dir_.string());

  at::Tensor fp32 = at::zeros({2, 3});
  ckpt.load_into("w", fp32);
  expect_bit_identical(fp32, stored.to(at::kFloat), "bf16 -> fp32");
  at::Tensor strided = at::zeros({3, 2}).t();  // [2, 3], non-contiguous
  ckpt.load_into("w", strided);
  expect_bit_identical(strided, stored.to(at::kFloat), "into a strided view");
  at::Tensor param = at::zeros({4}).requires_grad_(true);  // a parameter: no autograd error
  ckpt.load_into("f", param);
  expect_bit_identical(param.detach(), ckpt.load("f"), "into a parameter");
  if (at::hasCUDA()) {
    at::Tensor gpu = at::zeros({2, 3}, at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16));
    ckpt.load_into("w", gpu);
    expect_bit_identical(gpu, stored, "into a GPU tensor");
  }

  at::Tensor wrong = at::zeros({3, 2});
  std::string msg = error_of([&] { ckpt.load_into("w", wrong); });
  EXPECT_HAS(msg, "checkpoint " + dir_.string() + ": tensor 'w' in " + (dir_ / "model.safetensors").string());
  EXPECT_HAS(msg, "has shape [2, 3] (BF16), but the target expects [3, 2]");
}

TEST_F(CheckpointTest, MissingTensorNamesCheckpointAndCount) {
  save_checkpoint_tensors(dir_.string(), {{"a", at::ones({1})}, {"b", at::ones({1})}});
  CheckpointReader ckpt(dir_.string());
  EXPECT_FALSE(ckpt.has("c"));
  at::Tensor target = at::ones({1});
  for (const std::string& msg : {error_of([&] { ckpt.load("c"); }), error_of([&] { ckpt.load_into("c", target); }),
                                 error_of([&] { ckpt.file_of("c"); })})
    EXPECT_HAS(msg, "checkpoint " + dir_.string() + " has no tensor 'c' (it has 2 tensors)");
}

TEST_F(CheckpointTest, IndexNamingAMissingShardIsAnError) {
  save_sharded();
  fs::remove(dir_ / "model-00003-of-00004.safetensors");
  std::string msg = error_of([&] { CheckpointReader ckpt(dir_.string()); });
  EXPECT_HAS(msg, "checkpoint index " + (dir_ / "model.safetensors.index.json").string());
  EXPECT_HAS(msg, "puts tensor 'layers.2.w' in shard " + (dir_ / "model-00003-of-00004.safetensors").string() +
                      ", which does not exist");
}

TEST_F(CheckpointTest, IndexListingATensorItsShardLacksIsAnError) {
  save_sharded();
  rewrite_index([](nlohmann::json& index) { index["weight_map"]["ghost"] = "model-00001-of-00004.safetensors"; });
  std::string msg = error_of([&] { CheckpointReader ckpt(dir_.string()); });
  EXPECT_HAS(msg, "checkpoint index " + (dir_ / "model.safetensors.index.json").string());
  EXPECT_HAS(msg, "puts tensor 'ghost' in shard " + (dir_ / "model-00001-of-00004.safetensors").string() +
                      ", which does not contain it (the shard has 2 tensors)");
  rewrite_index([](nlohmann::json& index) { index["weight_map"]["ghost"] = "../elsewhere.safetensors"; });
  EXPECT_HAS(error_of([&] { CheckpointReader ckpt(dir_.string()); }), "which is not a plain file name");
  std::ofstream(dir_ / "model.safetensors.index.json") << "{\"weight_map\": ";
  EXPECT_HAS(error_of([&] { CheckpointReader ckpt(dir_.string()); }), "is not valid JSON");
}

TEST_F(CheckpointTest, BadFoldersAndTensorsAreErrors) {
  EXPECT_HAS(error_of([&] { CheckpointReader ckpt(dir_.string()); }), "does not exist");
  fs::create_directories(dir_);
  EXPECT_HAS(error_of([&] { CheckpointReader ckpt(dir_.string()); }),
             "has neither model.safetensors nor model.safetensors.index.json");
  std::string msg = error_of([&] { save_checkpoint_tensors(dir_.string(), {{"c", at::ones({2}, at::kComplexFloat)}}); });
  EXPECT_HAS(msg, "cannot be stored in safetensors");
  msg = error_of([&] { save_checkpoint_tensors(dir_.string(), {{"a", at::ones({1})}, {"a", at::ones({1})}}); });
  EXPECT_HAS(msg, "tensor 'a' given twice");
  EXPECT_TRUE(files_in(dir_).empty()) << "a rejected save writes nothing";
  uint8_t bools[3] = {1, 0, 2};
  write_safetensors((dir_ / "model.safetensors").string(), {{"m", StDType::BOOL, {3}, bools}});
  EXPECT_HAS(error_of([&] { CheckpointReader(dir_.string()).load("m"); }),
             "BOOL tensor 'm' in " + (dir_ / "model.safetensors").string() + " holds byte 2 at element 2");
}

}  // namespace
}  // namespace dsrl
