// Safetensors reader/writer (torch-free): round trips, interop with HF's Python package both ways, and malformed
// files, each of which must be a dsrl::Error naming the file and the tensor, never a crash.
#include "model/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "common/error.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

using testing::error_of;

namespace fs = std::filesystem;

std::vector<uint8_t> bytes_of(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  return std::vector<uint8_t>(p, p + n);
}

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A hand-made file: 8-byte length (header.size() unless given), header text, `data_bytes` bytes of data.
std::string raw_file(const std::string& header, size_t data_bytes, std::optional<uint64_t> length = std::nullopt) {
  uint64_t n = length.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\x5a');
}

// The message of the dsrl::Error that f throws, or "<no error>".
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("dsrl_st_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Opens a hand-made file and returns the error message, which must name the file.
  std::string open_error(const std::string& contents) {
    fs::path path = dir_ / "bad.safetensors";
    write_bytes(path, contents);
    std::string msg = error_of([&] { SafetensorsFile::open(path.string()); });
    EXPECT_NE(msg.find(path.string()), std::string::npos) << "error does not name the file: " << msg;
    return msg;
  }

  fs::path dir_;
};

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

TEST_F(SafetensorsTest, RoundTripIsBitIdentical) {
  std::vector<float> f32 = {1.5f, -0.0f, std::numeric_limits<float>::infinity(), 1e-42f /* subnormal */, 3.25f, 7};
  uint32_t nan_bits = 0x7fc12345;  // a NaN with a payload must survive
  std::memcpy(&f32[5], &nan_bits, 4);
  std::vector<uint16_t> bf16 = {0x3fc0, 0x8000, 0x7f80, 0x7fc1, 0x0001, 0xc2f7};
  std::vector<uint16_t> f16 = {0x3c00, 0xfbff, 0x7e01, 0x0001};
  std::vector<int64_t> i64 = {std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()};
  std::vector<uint8_t> mask = {1, 0, 0, 1, 1, 0};
  std::vector<uint8_t> fp8 = {0x00, 0x7e, 0xfe, 0x38};
  float scalar = -4.5f;
  std::vector<StTensorView> tensors = {
      {"model.f32", StDType::F32, {2, 3}, f32.data()},   {"bf16", StDType::BF16, {3, 2}, bf16.data()},
      {"f16", StDType::F16, {4}, f16.data()},            {"i64", StDType::I64, {2, 1, 2}, i64.data()},
      {"mask", StDType::BOOL, {6}, mask.data()},         {"fp8", StDType::F8_E4M3, {2, 2}, fp8.data()},
      {"scalar", StDType::F32, {}, &scalar},             {"empty", StDType::BF16, {0, 5}, nullptr}};
  fs::path path = dir_ / "model.safetensors";
  write_safetensors(path.string(), tensors, {{"format", "pt"}, {"step", "12"}});

  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1) << "a temp file was left";
  std::vector<uint8_t> file = read_file(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u) << "data must start 8-byte aligned";

  SafetensorsFile st = SafetensorsFile::open(path.string());
  EXPECT_EQ(st.metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"step", "12"}}));
  ASSERT_EQ(st.tensors().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const StTensorView& t = tensors[i];
    EXPECT_EQ(st.tensors()[i].name, t.name) << "data goes out in the order given";
    const StTensorInfo& info = st.at(t.name);
    EXPECT_EQ(info.dtype, t.dtype) << t.name;
    EXPECT_EQ(info.shape, t.shape) << t.name;
    std::vector<uint8_t> got(info.nbytes);
    st.read(t.name, got.data(), got.size());
    EXPECT_EQ(got, bytes_of(t.data, info.nbytes)) << t.name;
  }
  EXPECT_EQ(st.at("scalar").nbytes, 4u);
  EXPECT_EQ(st.at("empty").nbytes, 0u);
  EXPECT_EQ(st.find("nope"), nullptr);
}

TEST_F(SafetensorsTest, WriterNeverLeavesAHalfWrittenFile) {
  float x[2] = {1, 2};
  fs::path path = dir_ / "w.safetensors";
  write_safetensors(path.string(), {{"x", StDType::F32, {2}, x}});
  std::vector<uint8_t> before = read_file(path);
  std::string msg = error_of([&] {
    write_safetensors(path.string(), {{"x", StDType::F32, {2}, x}, {"x", StDType::F32, {2}, x}});
  });
  EXPECT_HAS(msg, "tensor 'x' given twice");
  {
    SafetensorsWriter writer(path.string(), {{"x", StDType::F32, {2}, nullptr}, {"y", StDType::F32, {1}, nullptr}});
    writer.write_next(x, 8);
    EXPECT_HAS(error_of([&] { writer.write_next(x, 8); }), "tensor 'y' must be 4 bytes (shape x dtype), got 8");
    EXPECT_HAS(error_of([&] { writer.commit(); }), "commit after 1 of 2 tensors (next: 'y')");
  }  // destroyed uncommitted
  EXPECT_EQ(read_file(path), before) << "a failed write must not touch the existing file";
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1) << "a temp file was left";
  EXPECT_HAS(error_of([&] { write_safetensors((dir_ / "no/such/dir/x.safetensors").string(), {}); }),
             "cannot create");
}

bool python_safetensors_available() {
  return std::system("python3 -c 'import safetensors, torch' >/dev/null 2>&1") == 0;
}
const std::string kInterop = std::string(DSRL_SOURCE_DIR) + "/tests/model/safetensors_interop.py";

TEST_F(SafetensorsTest, ReadsAFileWrittenByPythonBitExactly) {
  if (!python_safetensors_available()) GTEST_SKIP() << "python3 with safetensors and torch not available";
  ASSERT_EQ(std::system(("python3 " + kInterop + " write " + dir_.string()).c_str()), 0);
  SafetensorsFile st = SafetensorsFile::open((dir_ / "python.safetensors").string());
  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(st.tensors().size(), 9u);
  EXPECT_EQ(st.at("fp8").dtype, StDType::F8_E4M3);
  EXPECT_EQ(st.at("mask").dtype, StDType::BOOL);
  EXPECT_EQ(st.at("scalar").shape, std::vector<int64_t>{});
  EXPECT_EQ(st.at("empty").shape, (std::vector<int64_t>{0, 7}));
  for (const StTensorInfo& info : st.tensors()) {
    std::vector<uint8_t> got(info.nbytes);
    st.read(info, got.data(), got.size());
    EXPECT_EQ(got, read_file(dir_ / (info.name + ".bin"))) << info.name;
  }
}

TEST_F(SafetensorsTest, PythonReadsOurFileBitExactly) {
  if (!python_safetensors_available()) GTEST_SKIP() << "python3 with safetensors and torch not available";
  std::vector<float> f32 = {0.1f, -2, 3e38f, 5e-40f};
  std::vector<uint16_t> bf16 = {0x3f80, 0xbf00, 0x7f7f}, f16 = {0x3c00, 0x8001};
  std::vector<int64_t> i64 = {-(1ll << 62), 42};
  std::vector<int32_t> i32 = {-7, 0, 7};
  std::vector<uint8_t> mask = {0, 1, 1}, fp8 = {0x38, 0xb8, 0x7e};
  std::vector<StTensorView> tensors = {{"f32", StDType::F32, {2, 2}, f32.data()},
                                       {"bf16", StDType::BF16, {3}, bf16.data()},
                                       {"f16", StDType::F16, {1, 2}, f16.data()},
                                       {"i64", StDType::I64, {2}, i64.data()},
                                       {"i32", StDType::I32, {3}, i32.data()},
                                       {"mask", StDType::BOOL, {3}, mask.data()},
                                       {"fp8", StDType::F8_E4M3, {3}, fp8.data()},
                                       {"empty", StDType::F32, {2, 0}, nullptr}};
  fs::path bins = dir_ / "expected";
  fs::create_directories(bins);
  for (const StTensorView& t : tensors) {
    size_t n = st_dtype_size(t.dtype);
    for (int64_t d : t.shape) n *= d;
    std::ofstream(bins / (t.name + ".bin"), std::ios::binary).write(static_cast<const char*>(t.data), n);
  }
  fs::path path = dir_ / "ours.safetensors";
  write_safetensors(path.string(), tensors, {{"format", "pt"}, {"writer", "dsrl"}});
  EXPECT_EQ(std::system(("python3 " + kInterop + " check " + path.string() + " " + bins.string()).c_str()), 0);
}

TEST_F(SafetensorsTest, RejectsTruncatedFiles) {
  EXPECT_HAS(open_error("abc"), "is 3 bytes, shorter than its 8-byte header length");
  std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  std::string msg = open_error(raw_file(header, 10));  // 6 data bytes missing
  EXPECT_HAS(msg, "tensor 'w'");
  EXPECT_HAS(msg, "data_offsets [0, 16] end past the data buffer of 10 bytes (truncated file?)");
  msg = open_error(raw_file(header, 0).substr(0, 20));
  EXPECT_HAS(msg, "header length 55 runs past the end of the 20-byte file");
  EXPECT_HAS(open_error(raw_file(header, 0, 1ull << 40)), "header length 1099511627776 exceeds the 100000000-byte");
  EXPECT_HAS(open_error(raw_file(header, 20)), "the tensors cover 16 bytes of a 20-byte data buffer: 4 trailing");
  EXPECT_HAS(error_of([&] { SafetensorsFile::open((dir_ / "missing.safetensors").string()); }),
             "cannot open safetensors file");
}

TEST_F(SafetensorsTest, RejectsHeadersThatAreNotJsonObjects) {
  EXPECT_HAS(open_error(raw_file("{\"w\": [1, 2", 0)), "header is not valid JSON");
  EXPECT_HAS(open_error(raw_file("[1, 2]  ", 0)), "header must start with '{'");
  EXPECT_HAS(open_error(raw_file("", 0)), "header must start with '{', got an empty header");
  EXPECT_HAS(open_error(raw_file(R"({"__metadata__": {"step": 3}})", 0)), "__metadata__ value of 'step' must be a");
  std::string msg = open_error(raw_file(R"({"w": 3})", 0));
  EXPECT_HAS(msg, "tensor 'w': entry must be an object");
}

TEST_F(SafetensorsTest, RejectsBadTensorEntries) {
  auto entry = [](const std::string& body) { return raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)" + body + "}", 16); };
  std::string msg = open_error(entry(R"("b":{"dtype":"F33","shape":[2],"data_offsets":[8,16]})"));
  EXPECT_HAS(msg, "tensor 'b': unknown dtype \"F33\" (known: BOOL, U8");
  msg = open_error(entry(R"("b":{"dtype":"F32","shape":[-2],"data_offsets":[8,16]})"));
  EXPECT_HAS(msg, "tensor 'b': every shape dimension must be a non-negative integer, got -2");
  msg = open_error(entry(R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,24]})"));
  EXPECT_HAS(msg, "tensor 'b': data_offsets [8, 24] end past the data buffer of 16 bytes");
  msg = open_error(entry(R"("b":{"dtype":"F32","shape":[2],"data_offsets":[16,8]})"));
  EXPECT_HAS(msg, "tensor 'b': data_offsets [16, 8] begin after end");
  msg = open_error(entry(R"("b":{"dtype":"BF16","shape":[2,3],"data_offsets":[8,16]})"));
  EXPECT_HAS(msg, "tensor 'b': data_offsets [8, 16] span 8 bytes, but shape [2, 3] of BF16 needs 12 bytes");
  msg = open_error(entry(R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16],"extra":1})"));
  EXPECT_HAS(msg, "tensor 'b': unknown key 'extra'");
  msg = open_error(entry(R"("b":{"dtype":"F32","shape":[4611686018427387904, 8],"data_offsets":[8,16]})"));
  EXPECT_HAS(msg, "tensor 'b': shape [4611686018427387904,8] overflows 64 bits");
}

TEST_F(SafetensorsTest, RejectsOverlapsGapsAndDuplicates) {
  std::string msg = open_error(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12));
  EXPECT_HAS(msg, "tensor 'b' data_offsets [4, 12] overlap tensor 'a' which ends at 8");
  msg = open_error(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12));
  EXPECT_HAS(msg, "tensor 'b' begins at 8, but the previous tensor 'a' ends at 4: a gap of 4 unused bytes");
  msg = open_error(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8));
  EXPECT_HAS(msg, "tensor 'a' appears twice in the header");
}

TEST_F(SafetensorsTest, ReadErrorsNameFileAndTensor) {
  float x[3] = {1, 2, 3};
  fs::path path = dir_ / "r.safetensors";
  write_safetensors(path.string(), {{"x", StDType::F32, {3}, x}});
  SafetensorsFile st = SafetensorsFile::open(path.string());
  float out[4];
  std::string msg = error_of([&] { st.read("x", out, sizeof(out)); });
  EXPECT_HAS(msg, path.string());
  EXPECT_HAS(msg, "tensor 'x' (F32 [3]) is 12 bytes, destination holds 16");
  msg = error_of([&] { st.read("y", out, 12); });
  EXPECT_HAS(msg, "safetensors file " + path.string() + " has no tensor 'y' (it has 1 tensors)");
  SafetensorsFile moved = std::move(st);
  moved.read("x", out, 12);
  EXPECT_EQ(out[2], 3.0f);
  fs::resize_file(path, 8 + 8);  // shrink under the open file: a clean error, not garbage or a crash
  EXPECT_HAS(error_of([&] { moved.read("x", out, 12); }), "(truncated while open?)");
}

}  // namespace
}  // namespace dsrl
