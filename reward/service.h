// The gRPC face of dsrl-reward.
#pragma once

#include <chrono>

#include "proto/reward.grpc.pb.h"

namespace dsrl {

class RewardService final : public reward::Reward::Service {
 public:
  RewardService();
  grpc::Status Score(grpc::ServerContext* context, const reward::ScoreRequest* request,
                     reward::ScoreResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const reward::GetStatusRequest* request,
                         reward::RewardStatus* response) override;

 private:
  std::chrono::steady_clock::time_point started_;
};

}  // namespace dsrl
