// Safetensors files, torch-free: a validating reader that reads tensors on demand (pread; files can be many GB)
// and an atomic writer (temp file in the same folder, fsync, rename).
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
// then the data buffer; offsets are relative to the buffer start. The reader accepts exactly what the reference
// implementation (HF `safetensors`) accepts: header <= 100 MB, tensors tile the buffer without gaps or overlaps,
// end - begin == numel * dtype size, and the buffer ends where the file ends.
//
//   SafetensorsFile f = SafetensorsFile::open("model.safetensors");
//   const StTensorInfo& t = f.at("model.norm.weight");   // dtype, shape, nbytes
//   std::vector<uint8_t> bytes(t.nbytes);
//   f.read(t.name, bytes.data(), bytes.size());
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dsrl {

// Element types of the format (the names are the header's "dtype" strings). Little-endian, row-major.
enum class StDType { BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

const char* st_dtype_name(StDType dtype);                       // "BF16"
size_t st_dtype_size(StDType dtype);                            // bytes per element
std::optional<StDType> st_dtype_from_name(const std::string& name);  // nullopt for an unknown name

// "[2, 3]": shapes in error messages.
std::string st_shape_string(const std::vector<int64_t>& shape);

// One tensor of a file, as its header describes it (validated).
struct StTensorInfo {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;  // [] for a scalar
  uint64_t offset = 0;         // byte offset from the start of the FILE (not of the data buffer)
  uint64_t nbytes = 0;         // numel * st_dtype_size(dtype)
};

// An open, validated safetensors file. Holds the file descriptor; movable, not copyable.
class SafetensorsFile {
 public:
  // Opens and validates `path`; every problem is a dsrl::Error naming the file and, where there is one, the tensor.
  static SafetensorsFile open(const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // In data order (ascending offset).
  const std::vector<StTensorInfo>& tensors() const { return tensors_; }
  // nullptr when the file has no tensor `name`.
  const StTensorInfo* find(const std::string& name) const;
  // Throws a dsrl::Error naming the file, the tensor and how many tensors the file has.
  const StTensorInfo& at(const std::string& name) const;
  // The header's "__metadata__" (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t file_size() const { return file_size_; }

  // Copies tensor `name`'s bytes into dst; nbytes must equal its size. Safe to call from several threads.
  void read(const std::string& name, void* dst, size_t nbytes) const;
  void read(const StTensorInfo& info, void* dst, size_t nbytes) const;

 private:
  SafetensorsFile() = default;

  std::string path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  std::vector<StTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: `data` points at numel * dtype-size bytes, row-major (may be null for SafetensorsWriter).
struct StTensorView {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Streams a safetensors file: the header goes out at construction, then each tensor's bytes in the order given
// (so a caller can produce one tensor at a time, e.g. copy it off a GPU), then commit() makes the file appear under
// its final name. Until commit() the data lives in "<path>.tmp.<pid>" beside it; a writer destroyed without
// commit() removes that temp file, so a half-written file never carries the final name.
class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::string& path, const std::vector<StTensorView>& tensors,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // The next tensor's bytes; nbytes must equal that tensor's size.
  void write_next(const void* data, uint64_t nbytes);
  // All tensors written: fsync, rename over `path`, fsync the folder.
  void commit();

 private:
  void write_all(const void* data, uint64_t nbytes);

  std::string path_, tmp_path_;
  int fd_ = -1;
  std::vector<std::pair<std::string, uint64_t>> pending_;  // (name, nbytes) per tensor, in order
  size_t next_ = 0;
};

// Writes `tensors` (their `data` must be set) to `path` atomically; the header is padded with spaces so the data
// starts at an 8-byte aligned offset, as HF does. Data goes out in the order given.
void write_safetensors(const std::string& path, const std::vector<StTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Replaces `path` atomically with `text` (temp file beside it, fsync, rename); used for index.json files.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace dsrl
