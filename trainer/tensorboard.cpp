#include "trainer/tensorboard.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/crc32c.h"
#include "common/error.h"

namespace dsrl {
namespace {

// ---- Protobuf wire format, just what tensorflow.Event needs ----------------------------------------------------
// A field is a varint key (field_number << 3 | wire_type) followed by its value:
//   wire type 0 varint (int64), 1 fixed64 little-endian (double), 2 length-delimited (string, message),
//   5 fixed32 little-endian (float).
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put_key(std::string& out, uint32_t field, WireType type) { put_varint(out, (uint64_t{field} << 3) | type); }

void put_int64(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(v));  // negative values take 10 bytes, as protobuf's int64 does
}

void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  put_key(out, field, kFixed64);
  put_le(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  put_key(out, field, kFixed32);
  put_le(out, bits, 4);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {  // strings and sub-messages
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

// Field numbers of tensorboard/compat/proto/event.proto and summary.proto.
namespace event {
constexpr uint32_t kWallTime = 1, kStep = 2, kFileVersion = 3, kSummary = 5;
}
namespace summary {
constexpr uint32_t kValue = 1;  // repeated Summary.Value
}
namespace value {
constexpr uint32_t kTag = 1, kSimpleValue = 2;
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event{wall_time, step, summary: Summary{value: [Value{tag, simple_value}]}}.
std::string scalar_event(const std::string& tag, double v, int64_t step) {
  std::string val, sum, ev;
  put_bytes(val, value::kTag, tag);
  put_float(val, value::kSimpleValue, static_cast<float>(v));
  put_bytes(sum, summary::kValue, val);
  put_double(ev, event::kWallTime, unix_seconds());
  put_int64(ev, event::kStep, step);
  put_bytes(ev, event::kSummary, sum);
  return ev;
}

// ---- TFRecord framing --------------------------------------------------------------------------------------------
// Rotated and offset so that a CRC over data that embeds CRCs stays well distributed (TFRecord's "masked" CRC).
uint32_t masked_crc32c(const std::string& bytes) {
  const uint32_t crc = crc32c(bytes.data(), bytes.size());
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DSRL_CHECK(!ec, "cannot create TensorBoard directory {}: {}", dir, ec.message());
  const auto now = static_cast<int64_t>(unix_seconds());
  path_ = (std::filesystem::path(dir) / ("events.out.tfevents." + std::to_string(now) + "." + host_name() + ".dsrl"))
              .string();
  out_.open(path_, std::ios::binary | std::ios::trunc);
  DSRL_CHECK(out_.is_open(), "cannot create TensorBoard event file {}: {}", path_, std::strerror(errno));

  std::string ev;  // the first record: which Event format the file holds
  put_double(ev, event::kWallTime, unix_seconds());
  put_bytes(ev, event::kFileVersion, "brain.Event:2");
  write_record(ev);
  flush();
}

void EventWriter::scalar(const std::string& tag, double value, int64_t step) {
  write_record(scalar_event(tag, value, step));
}

void EventWriter::flush() {
  out_.flush();
  DSRL_CHECK(out_.good(), "cannot write TensorBoard event file {} (disk full or file removed?)", path_);
}

// uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
void EventWriter::write_record(const std::string& event) {
  std::string length;
  put_le(length, event.size(), 8);
  std::string record = length;
  put_le(record, masked_crc32c(length), 4);
  record += event;
  put_le(record, masked_crc32c(event), 4);
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  DSRL_CHECK(out_.good(), "cannot write TensorBoard event file {} (disk full or file removed?)", path_);
}

}  // namespace dsrl
