// TensorBoard event files: our framing checked byte by byte, then read back by TensorBoard's own readers
// (tests/trainer/read_events.py) — values, steps, tags, wall times; corrupted and truncated files.
#include "trainer/tensorboard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <vector>

#include "common/crc32c.h"
#include "common/error.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {

namespace fs = std::filesystem;
using testing::error_of;

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

const std::string kReader = std::string(DSRL_SOURCE_DIR) + "/tests/trainer/read_events.py";

bool python_tensorboard_available() {
  return std::system("python3 -c 'import tensorboard' >/dev/null 2>&1") == 0;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One line of read_events.py's output, split on spaces.
using Line = std::vector<std::string>;

class TensorBoardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsrl_tensorboard_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs read_events.py on `folder`; fails the test on a non-zero exit.
  std::vector<Line> read_events(const fs::path& folder) {
    std::FILE* pipe = ::popen(("python3 " + kReader + " " + folder.string()).c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    if (!pipe) return {};
    std::string text;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) text.append(buf, n);
    EXPECT_EQ(::pclose(pipe), 0) << "read_events.py failed; its output:\n" << text;
    std::vector<Line> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      lines.emplace_back(std::istream_iterator<std::string>(words), std::istream_iterator<std::string>());
    }
    return lines;
  }
  // The lines whose first word is `kind`, without it.
  static std::vector<Line> of_kind(const std::vector<Line>& lines, const std::string& kind) {
    std::vector<Line> out;
    for (const Line& l : lines)
      if (!l.empty() && l[0] == kind) out.emplace_back(l.begin() + 1, l.end());
    return out;
  }

  fs::path dir_;
};

struct Point {
  std::string tag;
  double value;
  int64_t step;
};
const std::vector<Point> kPoints = {
    {"train/loss", 2.3125, 0},      {"train/lr", 3e-4, 0},           {"train/loss", 2.25, 1},
    {"train/lr", 2.9e-4, 1},        {"grpo/kl", -1.5e-30, 7},        {"grpo/reward_mean", 0.0, 8},
    {"train/loss", 1e10 / 3, 9},    {"big/step", 123456.789, int64_t{1} << 40}};

TEST_F(TensorBoardTest, FileNameAndFramingFollowTFRecord) {
  const fs::path nested = dir_ / "run" / "tb";  // created by the writer
  std::string path;
  {
    EventWriter tb(nested.string());
    tb.scalar("x", 1.0, 1);
    tb.flush();
    path = tb.path();
  }
  const std::string name = fs::path(path).filename().string();
  EXPECT_EQ(fs::path(path).parent_path(), nested);
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\.[^/]+\.dsrl)"))) << name;

  // Walk the records: length, masked CRC of the length, data, masked CRC of the data.
  const std::string bytes = read_file(path);
  auto le = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
    return v;
  };
  auto masked = [](const char* p, size_t n) {
    const uint32_t crc = crc32c(p, n);
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
  };
  std::vector<std::string> records;
  for (size_t at = 0; at < bytes.size();) {
    ASSERT_LE(at + 12, bytes.size()) << "record header cut at " << at;
    const uint64_t length = le(at, 8);
    EXPECT_EQ(le(at + 8, 4), masked(bytes.data() + at, 8)) << "length CRC of the record at " << at;
    ASSERT_LE(at + 16 + length, bytes.size()) << "record data cut at " << at;
    EXPECT_EQ(le(at + 12 + length, 4), masked(bytes.data() + at + 12, length)) << "data CRC at " << at;
    records.push_back(bytes.substr(at + 12, length));
    at += 16 + length;
  }
  ASSERT_EQ(records.size(), 2u);
  EXPECT_HAS(records[0], std::string("\x1a\x0d") + "brain.Event:2");  // field 3, length-delimited, 13 bytes
  EXPECT_HAS(records[1], std::string("\x10\x01"));                    // field 2 (step), varint 1
  EXPECT_HAS(records[1], std::string("\x0a\x01x\x15") + std::string("\x00\x00\x80\x3f", 4));  // tag "x", 1.0f
}

TEST_F(TensorBoardTest, TensorBoardReadsBackEveryScalar) {
  if (!python_tensorboard_available()) GTEST_SKIP() << "python3 with the tensorboard package not available";
  const double before = now_seconds();
  {
    EventWriter tb(dir_.string());
    for (const Point& p : kPoints) {
      tb.scalar(p.tag, p.value, p.step);
      tb.flush();
    }
  }
  const double after = now_seconds();
  const std::vector<Line> lines = read_events(dir_);

  const std::vector<Line> version = of_kind(lines, "file_version");
  ASSERT_EQ(version.size(), 1u);
  EXPECT_EQ(version[0][0], "brain.Event:2");

  // The raw records, in the order written; TensorBoard keeps scalars as float32: exact after the cast.
  const std::vector<Line> scalars = of_kind(lines, "scalar");
  ASSERT_EQ(scalars.size(), kPoints.size());
  for (size_t i = 0; i < kPoints.size(); ++i) {
    ASSERT_EQ(scalars[i].size(), 4u);
    EXPECT_EQ(scalars[i][0], kPoints[i].tag) << "record " << i;
    EXPECT_EQ(std::stoll(scalars[i][1]), kPoints[i].step) << "record " << i;
    EXPECT_EQ(static_cast<float>(std::stod(scalars[i][2])), static_cast<float>(kPoints[i].value)) << "record " << i;
    const double wall = std::stod(scalars[i][3]);
    EXPECT_GE(wall, before - 1e-3) << "record " << i;
    EXPECT_LE(wall, after + 1e-3) << "record " << i;
  }

  // What the TensorBoard UI shows: the EventAccumulator's scalars, by tag (sorted), then by step.
  std::vector<Point> expected;
  for (const char* tag : {"big/step", "grpo/kl", "grpo/reward_mean", "train/loss", "train/lr"})
    for (const Point& p : kPoints)
      if (p.tag == tag) expected.push_back(p);
  const std::vector<Line> accumulated = of_kind(lines, "accumulated");
  ASSERT_EQ(accumulated.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(accumulated[i].size(), 3u);
    EXPECT_EQ(accumulated[i][0], expected[i].tag);
    EXPECT_EQ(std::stoll(accumulated[i][1]), expected[i].step) << expected[i].tag;
    EXPECT_EQ(static_cast<float>(std::stod(accumulated[i][2])), static_cast<float>(expected[i].value))
        << expected[i].tag << " step " << expected[i].step;
  }
}

TEST_F(TensorBoardTest, ReaderStopsAtACorruptedOrTruncatedRecord) {
  if (!python_tensorboard_available()) GTEST_SKIP() << "python3 with the tensorboard package not available";
  std::string path;
  {
    EventWriter tb(dir_.string());
    for (int step = 0; step < 3; ++step) tb.scalar("good", step, step);
    tb.scalar("corrupt_me", 3, 3);
    tb.scalar("after", 4, 4);
    tb.flush();
    path = tb.path();
  }
  ASSERT_EQ(of_kind(read_events(dir_), "scalar").size(), 5u);

  // A torn write (the process died mid-record): every complete record still reads.
  std::string bytes = read_file(path);
  fs::resize_file(path, bytes.size() - 3);
  std::vector<Line> scalars = of_kind(read_events(dir_), "scalar");
  ASSERT_EQ(scalars.size(), 4u);
  EXPECT_EQ(scalars.back()[0], "corrupt_me");

  // One flipped byte inside a record's data: its CRC fails and the reader stops there.
  const size_t at = bytes.find("corrupt_me");
  ASSERT_NE(at, std::string::npos);
  bytes[at] ^= 0x20;  // "Corrupt_me"
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  scalars = of_kind(read_events(dir_), "scalar");
  ASSERT_EQ(scalars.size(), 3u);
  for (const Line& s : scalars) EXPECT_EQ(s[0], "good");
}

TEST_F(TensorBoardTest, ErrorsNameThePath) {
  fs::create_directories(dir_);
  const fs::path blocker = dir_ / "a_file";
  std::ofstream(blocker) << "not a directory";
  const std::string msg = error_of([&] { EventWriter tb((blocker / "tb").string()); });
  EXPECT_HAS(msg, "cannot create TensorBoard directory " + (blocker / "tb").string());
}

}  // namespace
}  // namespace dsrl
