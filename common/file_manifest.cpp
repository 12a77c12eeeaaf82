#include "common/file_manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/crc32c.h"
#include "common/error.h"

namespace dsrl {
namespace fs = std::filesystem;
namespace {

std::string hex8(uint32_t value) { return fmt::format("{:08x}", value); }

// Paths of the regular files under folder, relative to it, sorted; the manifest itself left out.
std::vector<std::string> files_under(const fs::path& folder) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = fs::relative(entry.path(), folder).generic_string();
    if (rel != kManifestName) files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

nlohmann::json read_manifest(const fs::path& path) {
  std::ifstream in(path);
  DSRL_CHECK(in.good(), "cannot read {}", path.string());
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  DSRL_CHECK(manifest.is_object() && manifest.contains("files") && manifest["files"].is_object(),
             "{}: expected a JSON object with a \"files\" object", path.string());
  return manifest;
}

void check_one(const fs::path& folder, const std::string& rel, const nlohmann::json& expected) {
  const fs::path path = folder / rel;
  const fs::path relative(rel);
  DSRL_CHECK(relative.is_relative() && std::find(relative.begin(), relative.end(), "..") == relative.end(),
             "{}/{}: entry \"{}\" must be a path inside the folder", folder.string(), kManifestName, rel);
  DSRL_CHECK(expected.is_object() && expected.contains("bytes") && expected["bytes"].is_number_unsigned() &&
                 expected.contains("crc32c") && expected["crc32c"].is_string(),
             "{}/{}: entry \"{}\" needs \"bytes\" and \"crc32c\"", folder.string(), kManifestName, rel);
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  DSRL_CHECK(!ec, "{}: {} is listed in {} but cannot be read ({})", folder.string(), rel, kManifestName,
             ec.message());
  const uint64_t want = expected["bytes"].get<uint64_t>();
  DSRL_CHECK(size == want, "{}: {} is {} bytes, the manifest says {} (truncated or rewritten)", folder.string(), rel,
             size, want);
  const std::string got = hex8(file_crc32c(path.string()));
  const std::string want_crc = expected["crc32c"].get<std::string>();
  DSRL_CHECK(got == want_crc, "{}: {} has crc32c {}, the manifest says {} (the file is corrupted)", folder.string(),
             rel, got, want_crc);
}

}  // namespace

uint32_t file_crc32c(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  DSRL_CHECK(fd >= 0, "cannot open {}: {}", path, std::strerror(errno));
  std::vector<char> buffer(4 << 20);
  uint32_t crc = 0;
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      DSRL_CHECK(n == 0, "cannot read {}: {}", path, std::strerror(err));
      return crc;
    }
    crc = crc32c(buffer.data(), static_cast<size_t>(n), crc);
  }
}

std::string file_manifest_json(const std::string& folder) {
  nlohmann::json files = nlohmann::json::object();
  for (const std::string& rel : files_under(folder)) {
    const std::string path = (fs::path(folder) / rel).string();
    files[rel] = {{"bytes", fs::file_size(path)}, {"crc32c", hex8(file_crc32c(path))}};
  }
  return nlohmann::json{{"files", files}}.dump(2) + "\n";
}

bool has_file_manifest(const std::string& folder) { return fs::exists(fs::path(folder) / kManifestName); }

void check_file_manifest(const std::string& folder) {
  const nlohmann::json manifest = read_manifest(fs::path(folder) / kManifestName);
  for (const auto& [rel, expected] : manifest["files"].items()) check_one(folder, rel, expected);
}

}  // namespace dsrl
