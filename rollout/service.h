// The gRPC face of dsrl-rollout. Torch-free: it converts messages to plain structs for the engine (issue 5).
#pragma once

#include <chrono>

#include "proto/rollout.grpc.pb.h"

namespace dsrl {

class RolloutService final : public rollout::Rollout::Service {
 public:
  RolloutService();
  grpc::Status Generate(grpc::ServerContext* context, const rollout::GenerateRequest* request,
                        rollout::GenerateResponse* response) override;
  grpc::Status UpdateWeights(grpc::ServerContext* context, grpc::ServerReader<rollout::WeightChunk>* reader,
                             rollout::UpdateWeightsResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const rollout::GetStatusRequest* request,
                         rollout::RolloutStatus* response) override;

 private:
  std::chrono::steady_clock::time_point started_;
};

}  // namespace dsrl
