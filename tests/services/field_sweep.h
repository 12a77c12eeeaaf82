// Test helper: every field of a request set, one at a time, to values a careless or hostile client could send
// (negative, zero, the type's extremes, NaN and infinities, empty and 1 MiB strings, an unknown enum value, an
// emptied or grown repeated field). Walks nested messages and the first element of repeated messages by
// reflection, so a field added to a .proto later is swept without touching the tests. A value equal to the one in
// `valid` is skipped: every variant differs from it.
//
//   for (const FieldVariant& v : field_variants(valid_request)) {
//     grpc::Status s = call(*v.message);   // then: an allowed code, and the service still answers
//   }
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <vector>

namespace dsrl::testing {

struct FieldVariant {
  std::string change;                                // e.g. "sampling.temperature = nan"
  std::unique_ptr<google::protobuf::Message> message;  // `valid` with that one change
};

std::vector<FieldVariant> field_variants(const google::protobuf::Message& valid);

}  // namespace dsrl::testing
