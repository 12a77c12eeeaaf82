// The gRPC face of dsrl-rollout. Torch-free: it converts messages to the engine's plain structs (engine.h) and
// back, maps the engine's refusals to status codes, and keeps serving after a bad request.
#pragma once

#include <chrono>

#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"
#include "rollout/engine.h"

namespace dsrl {

class RolloutService final : public rollout::Rollout::Service {
 public:
  // `auth` guards every call (UpdateWeights included) when the server has a token.
  explicit RolloutService(Engine& engine, CallAuth auth = CallAuth());
  grpc::Status Generate(grpc::ServerContext* context, const rollout::GenerateRequest* request,
                        rollout::GenerateResponse* response) override;
  grpc::Status UpdateWeights(grpc::ServerContext* context, grpc::ServerReader<rollout::WeightChunk>* reader,
                             rollout::UpdateWeightsResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const rollout::GetStatusRequest* request,
                         rollout::RolloutStatus* response) override;

 private:
  Engine& engine_;
  CallAuth auth_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace dsrl
