// Safetensors reader: parse and validate the header against itself and the file length, then pread tensors on
// demand. Every error names the file and, where there is one, the tensor. (Writer: safetensors_writer.cpp.)
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include "common/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; so is this reader");

namespace dsrl {
namespace {

using json = nlohmann::json;

// The reference implementation's limit; real headers are at most a few MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DTypeRow {
  StDType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {
    {StDType::BOOL, "BOOL", 1},       {StDType::U8, "U8", 1},           {StDType::I8, "I8", 1},
    {StDType::F8_E5M2, "F8_E5M2", 1}, {StDType::F8_E4M3, "F8_E4M3", 1}, {StDType::F8_E8M0, "F8_E8M0", 1},
    {StDType::I16, "I16", 2},         {StDType::U16, "U16", 2},         {StDType::F16, "F16", 2},
    {StDType::BF16, "BF16", 2},       {StDType::I32, "I32", 4},         {StDType::U32, "U32", 4},
    {StDType::F32, "F32", 4},         {StDType::F64, "F64", 8},         {StDType::I64, "I64", 8},
    {StDType::U64, "U64", 8},
};

const DTypeRow& row_of(StDType dtype) {
  for (const DTypeRow& row : kDTypes)
    if (row.dtype == dtype) return row;
  DSRL_FAIL("StDType {} is not in the dtype table", static_cast<int>(dtype));
}

std::string known_dtype_names() {
  std::string names;
  for (const DTypeRow& row : kDTypes) names += (names.empty() ? "" : ", ") + std::string(row.name);
  return names;
}

// Reads exactly n bytes at `offset`; a short read means the file shrank under us.
void pread_exact(int fd, void* dst, uint64_t n, uint64_t offset, const std::string& path, const std::string& what) {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30));
    ssize_t got = ::pread(fd, out, chunk, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    DSRL_CHECK(got >= 0, "safetensors file {}: reading {} at byte {} failed: {}", path, what, offset,
               std::strerror(errno));
    DSRL_CHECK(got > 0, "safetensors file {}: reading {}: file ends at byte {} (truncated while open?)", path, what,
               offset);
    out += got, offset += static_cast<uint64_t>(got), n -= static_cast<uint64_t>(got);
  }
}

uint64_t json_u64(const json& value, const std::string& where) {
  DSRL_CHECK(value.is_number_unsigned(), "{} must be a non-negative integer, got {}", where, value.dump());
  return value.get<uint64_t>();
}

// One header entry -> StTensorInfo (offset still relative to the data buffer). `where` names file and tensor.
StTensorInfo parse_entry(const std::string& name, const json& entry, uint64_t buffer_size, const std::string& where) {
  DSRL_CHECK(entry.is_object(), "{}: entry must be an object {{dtype, shape, data_offsets}}, got {}", where,
             entry.dump());
  for (const auto& item : entry.items())
    DSRL_CHECK(item.key() == "dtype" || item.key() == "shape" || item.key() == "data_offsets",
               "{}: unknown key '{}' (expected dtype, shape, data_offsets)", where, item.key());
  DSRL_CHECK(entry.contains("dtype") && entry.contains("shape") && entry.contains("data_offsets"),
             "{}: entry must have dtype, shape and data_offsets, got {}", where, entry.dump());
  StTensorInfo info;
  info.name = name;
  const json& dtype = entry["dtype"];
  std::optional<StDType> known = dtype.is_string() ? st_dtype_from_name(dtype.get<std::string>()) : std::nullopt;
  DSRL_CHECK(known.has_value(), "{}: unknown dtype {} (known: {})", where, dtype.dump(), known_dtype_names());
  info.dtype = *known;

  const json& shape = entry["shape"];
  DSRL_CHECK(shape.is_array(), "{}: shape must be a list of non-negative integers, got {}", where, shape.dump());
  uint64_t numel = 1;
  for (const json& dim : shape) {
    uint64_t d = json_u64(dim, where + ": every shape dimension");
    DSRL_CHECK(d <= uint64_t(std::numeric_limits<int64_t>::max()), "{}: shape dimension {} too large", where, d);
    DSRL_CHECK(!__builtin_mul_overflow(numel, d, &numel), "{}: shape {} overflows 64 bits", where, shape.dump());
    info.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t expected_bytes = 0;
  DSRL_CHECK(!__builtin_mul_overflow(numel, st_dtype_size(info.dtype), &expected_bytes),
             "{}: shape {} of {} overflows 64 bits", where, shape.dump(), st_dtype_name(info.dtype));

  const json& offsets = entry["data_offsets"];
  DSRL_CHECK(offsets.is_array() && offsets.size() == 2, "{}: data_offsets must be [begin, end], got {}", where,
             offsets.dump());
  uint64_t begin = json_u64(offsets[0], where + ": data_offsets begin");
  uint64_t end = json_u64(offsets[1], where + ": data_offsets end");
  DSRL_CHECK(begin <= end, "{}: data_offsets [{}, {}] begin after end", where, begin, end);
  DSRL_CHECK(end <= buffer_size, "{}: data_offsets [{}, {}] end past the data buffer of {} bytes (truncated file?)",
             where, begin, end, buffer_size);
  DSRL_CHECK(end - begin == expected_bytes,
             "{}: data_offsets [{}, {}] span {} bytes, but shape {} of {} needs {} bytes", where, begin, end,
             end - begin, st_shape_string(info.shape), st_dtype_name(info.dtype), expected_bytes);
  info.offset = begin;
  info.nbytes = expected_bytes;
  return info;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& path) {
  DSRL_CHECK(value.is_object(), "safetensors file {}: __metadata__ must be an object of strings, got {}", path,
             value.dump());
  std::map<std::string, std::string> metadata;
  for (const auto& item : value.items()) {
    DSRL_CHECK(item.value().is_string(), "safetensors file {}: __metadata__ value of '{}' must be a string, got {}",
               path, item.key(), item.value().dump());
    metadata[item.key()] = item.value().get<std::string>();
  }
  return metadata;
}

// Parses the header text into a JSON object, rejecting duplicate top-level keys (which JSON parsers would
// silently merge, hiding one tensor).
json parse_header_json(const std::string& text, const std::string& path) {
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(text, on_event);
  } catch (const json::exception& e) {
    DSRL_FAIL("safetensors file {}: header is not valid JSON: {}", path, e.what());
  }
  DSRL_CHECK(header.is_object(), "safetensors file {}: header must be a JSON object, got {}", path,
             header.type_name());
  DSRL_CHECK(duplicate.empty(), "safetensors file {}: tensor '{}' appears twice in the header", path, duplicate);
  return header;
}

// The tensors must tile the data buffer: sorted by offset, each begins where the previous ended, the last ends at
// the end of the file. Catches overlaps, gaps and trailing bytes.
void check_tiling(std::vector<StTensorInfo>& tensors, uint64_t buffer_size, const std::string& path) {
  std::sort(tensors.begin(), tensors.end(), [](const StTensorInfo& a, const StTensorInfo& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
  });
  uint64_t expected = 0;
  const StTensorInfo* previous = nullptr;
  for (const StTensorInfo& t : tensors) {
    DSRL_CHECK(t.offset >= expected,
               "safetensors file {}: tensor '{}' data_offsets [{}, {}] overlap tensor '{}' which ends at {}", path,
               t.name, t.offset, t.offset + t.nbytes, previous ? previous->name : "", expected);
    DSRL_CHECK(t.offset == expected,
               "safetensors file {}: tensor '{}' begins at {}, but the previous tensor{} ends at {}: a gap of {} "
               "unused bytes",
               path, t.name, t.offset, previous ? " '" + previous->name + "'" : "", expected, t.offset - expected);
    expected = t.offset + t.nbytes;
    previous = &t;
  }
  DSRL_CHECK(expected == buffer_size,
             "safetensors file {}: the tensors cover {} bytes of a {}-byte data buffer: {} trailing bytes", path,
             expected, buffer_size, buffer_size - expected);
}

}  // namespace

const char* st_dtype_name(StDType dtype) { return row_of(dtype).name; }
size_t st_dtype_size(StDType dtype) { return row_of(dtype).size; }

std::optional<StDType> st_dtype_from_name(const std::string& name) {
  for (const DTypeRow& row : kDTypes)
    if (name == row.name) return row.dtype;
  return std::nullopt;
}

std::string st_shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  file.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  DSRL_CHECK(file.fd_ >= 0, "cannot open safetensors file {}: {}", path, std::strerror(errno));
  struct stat st {};
  DSRL_CHECK(::fstat(file.fd_, &st) == 0 && S_ISREG(st.st_mode), "safetensors file {} is not a regular file", path);
  file.file_size_ = static_cast<uint64_t>(st.st_size);
  DSRL_CHECK(file.file_size_ >= 8, "safetensors file {} is {} bytes, shorter than its 8-byte header length", path,
             file.file_size_);

  unsigned char len_bytes[8];
  pread_exact(file.fd_, len_bytes, 8, 0, path, "the header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  DSRL_CHECK(header_len <= kMaxHeaderBytes, "safetensors file {}: header length {} exceeds the {}-byte limit", path,
             header_len, kMaxHeaderBytes);
  DSRL_CHECK(header_len <= file.file_size_ - 8,
             "safetensors file {}: header length {} runs past the end of the {}-byte file (truncated file?)", path,
             header_len, file.file_size_);
  std::string text(header_len, '\0');
  pread_exact(file.fd_, text.data(), header_len, 8, path, "the header");
  DSRL_CHECK(!text.empty() && text[0] == '{', "safetensors file {}: header must start with '{{', got {}", path,
             text.empty() ? "an empty header" : "'" + text.substr(0, 16) + "'");

  const uint64_t data_start = 8 + header_len, buffer_size = file.file_size_ - data_start;
  json header = parse_header_json(text, path);
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      file.metadata_ = parse_metadata(item.value(), path);
      continue;
    }
    std::string where = "safetensors file " + path + ": tensor '" + item.key() + "'";
    file.tensors_.push_back(parse_entry(item.key(), item.value(), buffer_size, where));
  }
  check_tiling(file.tensors_, buffer_size, path);
  for (size_t i = 0; i < file.tensors_.size(); ++i) {
    file.tensors_[i].offset += data_start;
    file.index_[file.tensors_[i].name] = i;
  }
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) ::close(fd_);
  path_ = std::move(other.path_);
  fd_ = std::exchange(other.fd_, -1);
  file_size_ = other.file_size_;
  tensors_ = std::move(other.tensors_);
  index_ = std::move(other.index_);
  metadata_ = std::move(other.metadata_);
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

const StTensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const StTensorInfo& SafetensorsFile::at(const std::string& name) const {
  const StTensorInfo* info = find(name);
  DSRL_CHECK(info != nullptr, "safetensors file {} has no tensor '{}' (it has {} tensors)", path_, name,
             tensors_.size());
  return *info;
}

void SafetensorsFile::read(const std::string& name, void* dst, size_t nbytes) const { read(at(name), dst, nbytes); }

void SafetensorsFile::read(const StTensorInfo& info, void* dst, size_t nbytes) const {
  DSRL_CHECK(fd_ >= 0, "safetensors file {}: read of tensor '{}' after the file was moved from", path_, info.name);
  DSRL_CHECK(nbytes == info.nbytes, "safetensors file {}: tensor '{}' ({} {}) is {} bytes, destination holds {}",
             path_, info.name, st_dtype_name(info.dtype), st_shape_string(info.shape), info.nbytes, nbytes);
  pread_exact(fd_, dst, nbytes, info.offset, path_, "tensor '" + info.name + "'");
}

}  // namespace dsrl
