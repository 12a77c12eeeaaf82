// Shared by the reward service tests: a RewardItem message.
#pragma once

#include <string>

#include "proto/reward.grpc.pb.h"

namespace dsrl::testing {

inline reward::RewardItem rpc_item(const std::string& id, const std::string& type, const std::string& response,
                                   const std::string& reference = "") {
  reward::RewardItem i;
  i.set_id(id);
  i.set_task_type(type);
  i.set_response(response);
  i.set_reference_answer(reference);
  return i;
}

}  // namespace dsrl::testing
