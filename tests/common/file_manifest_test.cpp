// Checkpoint manifests: a folder's files checked against the size and crc32c recorded for them; every kind of
// damage is found and named.
#include "common/file_manifest.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/crc32c.h"
#include "tests/common/error_of.h"

namespace dsrl {
namespace {
namespace fs = std::filesystem;
using testing::error_of;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A checkpoint-like folder with a manifest of its files.
class FileManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsrl_manifest_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    write(dir_ / "model" / "model.safetensors", std::string(10000, 'w'));
    write(dir_ / "optimizer" / "model.safetensors", "moments");
    write(dir_ / "trainer_state.json", "{}");
    write(dir_ / kManifestName, file_manifest_json(dir_.string()));
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string check_error() { return error_of([&] { check_file_manifest(dir_.string()); }); }

  fs::path dir_;
};

TEST_F(FileManifest, ListsEveryFileWithItsSizeAndChecksum) {
  const std::string json = file_manifest_json(dir_.string());
  EXPECT_NE(json.find("\"model/model.safetensors\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"optimizer/model.safetensors\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"bytes\": 10000"), std::string::npos) << json;
  EXPECT_EQ(json.find(kManifestName), std::string::npos) << "the manifest lists itself: " << json;
  const std::string crc = fmt::format("{:08x}", crc32c("moments", 7));
  EXPECT_NE(json.find(crc), std::string::npos) << json;
  EXPECT_TRUE(has_file_manifest(dir_.string()));
  EXPECT_EQ(check_error(), "<no error>");
}

TEST_F(FileManifest, AChangedByteIsFoundAndNamed) {
  {
    std::fstream f(dir_ / "model" / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('x');
  }
  const std::string error = check_error();
  EXPECT_NE(error.find("model/model.safetensors has crc32c"), std::string::npos) << error;
  EXPECT_NE(error.find("corrupted"), std::string::npos) << error;
}

TEST_F(FileManifest, ATruncatedOrMissingFileIsFoundAndNamed) {
  fs::resize_file(dir_ / "optimizer" / "model.safetensors", 3);
  std::string error = check_error();
  EXPECT_NE(error.find("optimizer/model.safetensors is 3 bytes, the manifest says 7"), std::string::npos) << error;
  fs::remove(dir_ / "optimizer" / "model.safetensors");
  error = check_error();
  EXPECT_NE(error.find("optimizer/model.safetensors is listed in manifest.json but cannot be read"),
            std::string::npos)
      << error;
}

TEST_F(FileManifest, AMalformedManifestIsAnErrorNotACrash) {
  for (const std::string bad : {"", "not json", "[1, 2]", "{\"files\": 3}",
                                "{\"files\": {\"trainer_state.json\": {\"bytes\": -1, \"crc32c\": \"0\"}}}",
                                "{\"files\": {\"trainer_state.json\": {\"bytes\": 2}}}",
                                "{\"files\": {\"../escape\": {\"bytes\": 2, \"crc32c\": \"0\"}}}",
                                "{\"files\": {\"/etc/passwd\": {\"bytes\": 2, \"crc32c\": \"0\"}}}"}) {
    write(dir_ / kManifestName, bad);
    const std::string error = check_error();
    EXPECT_NE(error.find("manifest.json"), std::string::npos) << "manifest " << bad << ": " << error;
  }
  fs::remove(dir_ / kManifestName);
  EXPECT_FALSE(has_file_manifest(dir_.string()));
  EXPECT_NE(check_error().find("cannot read"), std::string::npos);
}

TEST(Crc32cFile, MatchesTheInMemoryChecksumAcrossReadPieces) {
  const fs::path path = fs::temp_directory_path() / ("dsrl_crc_file_" + std::to_string(::getpid()));
  std::string bytes((9 << 20) + 13, '\0');  // more than two 4 MiB read pieces
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + (i >> 11));
  write(path, bytes);
  EXPECT_EQ(file_crc32c(path.string()), crc32c_reference(bytes.data(), bytes.size()));
  fs::remove(path);
  EXPECT_NE(error_of([&] { file_crc32c(path.string()); }).find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace dsrl
