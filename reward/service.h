// The gRPC face of dsrl-reward: converts messages to the scoring library's structs (scorer.h) and back.
#pragma once

#include <atomic>
#include <chrono>

#include "proto/reward.grpc.pb.h"
#include "proto/server.h"
#include "reward/scorer.h"

namespace dsrl {

class RewardService final : public reward::Reward::Service {
 public:
  // `auth` guards every call when the server has a token.
  explicit RewardService(Scorer& scorer, CallAuth auth = CallAuth());
  grpc::Status Score(grpc::ServerContext* context, const reward::ScoreRequest* request,
                     reward::ScoreResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const reward::GetStatusRequest* request,
                         reward::RewardStatus* response) override;

 private:
  Scorer& scorer_;
  CallAuth auth_;
  std::atomic<uint32_t> in_flight_{0};
  std::chrono::steady_clock::time_point started_;
};

}  // namespace dsrl
