// The gRPC face of dsrl-reward: converts messages to the scoring library's structs (scorer.h) and back.
#pragma once

#include <atomic>
#include <chrono>

#include "proto/reward.grpc.pb.h"
#include "reward/scorer.h"

namespace dsrl {

class RewardService final : public reward::Reward::Service {
 public:
  explicit RewardService(Scorer& scorer);
  grpc::Status Score(grpc::ServerContext* context, const reward::ScoreRequest* request,
                     reward::ScoreResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const reward::GetStatusRequest* request,
                         reward::RewardStatus* response) override;

 private:
  Scorer& scorer_;
  std::atomic<uint32_t> in_flight_{0};
  std::chrono::steady_clock::time_point started_;
};

}  // namespace dsrl
