// Safetensors writer: header first, tensors streamed in order, into a temp file beside the target that is fsynced
// and renamed over it only when complete.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "model/safetensors.h"

namespace dsrl {
namespace {

using json = nlohmann::json;

// Opens "<path>.tmp.<pid>" for writing (truncating a leftover from a crashed run of the same pid).
int open_temp(const std::string& path, std::string* tmp_path) {
  *tmp_path = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp_path->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DSRL_CHECK(fd >= 0, "cannot create {} (temp file for {}): {}", *tmp_path, path, std::strerror(errno));
  return fd;
}

void write_fd(int fd, const void* data, uint64_t n, const std::string& path) {
  const auto* in = static_cast<const char*>(data);
  while (n > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30));
    ssize_t put = ::write(fd, in, chunk);
    if (put < 0 && errno == EINTR) continue;
    DSRL_CHECK(put > 0, "writing {} failed: {}", path, put < 0 ? std::strerror(errno) : "wrote 0 bytes");
    in += put, n -= static_cast<uint64_t>(put);
  }
}

// fsync + close the temp file, rename it over `path`, fsync the folder so the rename itself is durable.
void commit_temp(int fd, const std::string& tmp_path, const std::string& path) {
  bool synced = ::fsync(fd) == 0;
  int sync_errno = errno;
  bool closed = ::close(fd) == 0;
  DSRL_CHECK(synced && closed, "flushing {} to disk failed: {}", tmp_path, std::strerror(synced ? errno : sync_errno));
  DSRL_CHECK(::rename(tmp_path.c_str(), path.c_str()) == 0, "renaming {} to {} failed: {}", tmp_path, path,
             std::strerror(errno));
  std::string folder = std::filesystem::path(path).parent_path().string();
  int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // best effort: some filesystems refuse fsync on folders
    ::close(dir);
  }
}

// Checks names and shapes, returns each tensor's byte size.
std::vector<uint64_t> tensor_sizes(const std::string& path, const std::vector<StTensorView>& tensors) {
  std::set<std::string> names;
  std::vector<uint64_t> sizes;
  for (const StTensorView& t : tensors) {
    DSRL_CHECK(!t.name.empty() && t.name != "__metadata__", "writing {}: invalid tensor name '{}'", path, t.name);
    DSRL_CHECK(names.insert(t.name).second, "writing {}: tensor '{}' given twice", path, t.name);
    uint64_t nbytes = st_dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      DSRL_CHECK(d >= 0, "writing {}: tensor '{}' has negative dimension in shape {}", path, t.name,
                 st_shape_string(t.shape));
      DSRL_CHECK(!__builtin_mul_overflow(nbytes, uint64_t(d), &nbytes), "writing {}: tensor '{}' shape {} too large",
                 path, t.name, st_shape_string(t.shape));
    }
    sizes.push_back(nbytes);
  }
  return sizes;
}

// The 8-byte length plus the JSON header, padded with spaces so the data starts 8-byte aligned.
std::string header_bytes(const std::vector<StTensorView>& tensors, const std::vector<uint64_t>& sizes,
                         const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    header[tensors[i].name] = {{"dtype", st_dtype_name(tensors[i].dtype)},
                               {"shape", tensors[i].shape},
                               {"data_offsets", {offset, offset + sizes[i]}}};
    offset += sizes[i];
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((uint64_t(text.size()) >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace

SafetensorsWriter::SafetensorsWriter(const std::string& path, const std::vector<StTensorView>& tensors,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path) {
  std::vector<uint64_t> sizes = tensor_sizes(path, tensors);
  std::string header = header_bytes(tensors, sizes, metadata);
  for (size_t i = 0; i < tensors.size(); ++i) pending_.emplace_back(tensors[i].name, sizes[i]);
  fd_ = open_temp(path, &tmp_path_);
  try {
    write_all(header.data(), header.size());
  } catch (...) {
    ::close(fd_);
    ::unlink(tmp_path_.c_str());
    throw;
  }
}

SafetensorsWriter::~SafetensorsWriter() {
  if (fd_ >= 0) {  // not committed: drop the partial file
    ::close(fd_);
    ::unlink(tmp_path_.c_str());
  }
}

void SafetensorsWriter::write_all(const void* data, uint64_t nbytes) { write_fd(fd_, data, nbytes, tmp_path_); }

void SafetensorsWriter::write_next(const void* data, uint64_t nbytes) {
  DSRL_CHECK(fd_ >= 0, "writing {}: write_next after commit", path_);
  DSRL_CHECK(next_ < pending_.size(), "writing {}: all {} tensors already written", path_, pending_.size());
  const auto& [name, expected] = pending_[next_];
  DSRL_CHECK(nbytes == expected, "writing {}: tensor '{}' must be {} bytes (shape x dtype), got {}", path_, name,
             expected, nbytes);
  DSRL_CHECK(data != nullptr || nbytes == 0, "writing {}: tensor '{}' has no data", path_, name);
  write_all(data, nbytes);
  ++next_;
}

void SafetensorsWriter::commit() {
  DSRL_CHECK(fd_ >= 0, "writing {}: commit called twice", path_);
  DSRL_CHECK(next_ == pending_.size(), "writing {}: commit after {} of {} tensors (next: '{}')", path_, next_,
             pending_.size(), next_ < pending_.size() ? pending_[next_].first : "");
  int fd = std::exchange(fd_, -1);
  try {
    commit_temp(fd, tmp_path_, path_);
  } catch (...) {
    ::unlink(tmp_path_.c_str());
    throw;
  }
}

void write_safetensors(const std::string& path, const std::vector<StTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter writer(path, tensors, metadata);
  for (const StTensorView& t : tensors) {
    uint64_t nbytes = st_dtype_size(t.dtype);
    for (int64_t d : t.shape) nbytes *= uint64_t(d);  // checked by the writer's constructor
    writer.write_next(t.data, nbytes);
  }
  writer.commit();
}

void write_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp_path;
  int fd = open_temp(path, &tmp_path);
  try {
    write_fd(fd, text.data(), text.size(), tmp_path);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp_path.c_str());
    throw;
  }
  try {
    commit_temp(fd, tmp_path, path);
  } catch (...) {
    ::unlink(tmp_path.c_str());
    throw;
  }
}

}  // namespace dsrl
