#include "rollout/weight_staging.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/crc32c.h"

namespace dsrl {
namespace {

[[noreturn]] void refuse(RequestError::Code code, const std::string& message) {
  throw RequestError(code, "weight update refused, old weights kept: " + message);
}

}  // namespace

void WeightStaging::add(const WeightPiece& p) {
  using E = RequestError;
  if (version_ == 0) {
    if (p.version <= current_version_)
      refuse(E::kInvalidArgument, fmt::format("version {} is not above the serving version {}", p.version,
                                              current_version_));
    if (p.total_tensors < 1) refuse(E::kInvalidArgument, fmt::format("total_tensors must be >= 1, got {}",
                                                                     p.total_tensors));
    version_ = p.version;
    total_tensors_ = p.total_tensors;
  }
  if (p.version != version_ || p.total_tensors != total_tensors_)
    refuse(E::kInvalidArgument, fmt::format("chunk of {} says version {} / {} tensors, the update began as {} / {}",
                                            p.name, p.version, p.total_tensors, version_, total_tensors_));
  auto slot = slots_->find(p.name);
  if (slot == slots_->end()) refuse(E::kInvalidArgument, fmt::format("unknown tensor '{}'", p.name));
  if (p.shape != slot->second.shape)
    refuse(E::kInvalidArgument, fmt::format("{}: shape [{}], the worker's is [{}]", p.name, fmt::join(p.shape, ", "),
                                            fmt::join(slot->second.shape, ", ")));
  if (p.dtype != slot->second.dtype)
    refuse(E::kInvalidArgument, fmt::format("{}: dtype {}, the worker's is {}", p.name, p.dtype, slot->second.dtype));
  const uint32_t crc = crc32c(p.data.data(), p.data.size());
  if (crc != p.crc32c)
    refuse(E::kDataLoss, fmt::format("{}: chunk at byte {} fails its crc32c (sent {:08x}, computed {:08x})", p.name,
                                     p.byte_offset, p.crc32c, crc));
  const uint64_t end = p.byte_offset + p.data.size();
  if (p.data.empty() || end > slot->second.bytes || end < p.byte_offset)
    refuse(E::kInvalidArgument, fmt::format("{}: chunk [{}, {}) outside the tensor's {} bytes or empty", p.name,
                                            p.byte_offset, end, slot->second.bytes));
  Staged& t = tensors_[p.name];
  if (t.data.empty()) {
    if (static_cast<int64_t>(tensors_.size()) > total_tensors_)
      refuse(E::kInvalidArgument, fmt::format("more than the announced {} tensors ({} is one too many)",
                                              total_tensors_, p.name));
    t.data.resize(slot->second.bytes);
  }
  auto next = t.ranges.lower_bound(p.byte_offset);
  const bool overlaps_next = next != t.ranges.end() && next->first < end;
  const bool overlaps_prev = next != t.ranges.begin() && std::prev(next)->second > p.byte_offset;
  if (overlaps_next || overlaps_prev)
    refuse(E::kInvalidArgument, fmt::format("{}: chunk [{}, {}) overlaps one already received", p.name,
                                            p.byte_offset, end));
  t.ranges[p.byte_offset] = end;
  t.data.replace(p.byte_offset, p.data.size(), p.data);
  t.received += p.data.size();
  bytes_ += p.data.size();
}

void WeightStaging::check_complete() const {
  if (version_ == 0) refuse(RequestError::kInvalidArgument, "the stream carried no chunk");
  if (static_cast<int64_t>(tensors_.size()) != total_tensors_)
    refuse(RequestError::kInvalidArgument,
           fmt::format("{} tensors announced, {} arrived (stream cut off?)", total_tensors_, tensors_.size()));
  for (const auto& [name, t] : tensors_)
    if (t.received != t.data.size())
      refuse(RequestError::kInvalidArgument,
             fmt::format("{}: {} of {} bytes arrived (stream cut off?)", name, t.received, t.data.size()));
}

}  // namespace dsrl
