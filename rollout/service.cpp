#include "rollout/service.h"

namespace dsrl {

RolloutService::RolloutService() : started_(std::chrono::steady_clock::now()) {}

grpc::Status RolloutService::Generate(grpc::ServerContext*, const rollout::GenerateRequest*,
                                      rollout::GenerateResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "Generate: this dsrl-rollout has no generation engine yet (it arrives with issue 5)");
}

grpc::Status RolloutService::UpdateWeights(grpc::ServerContext*, grpc::ServerReader<rollout::WeightChunk>*,
                                           rollout::UpdateWeightsResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "UpdateWeights: this dsrl-rollout holds no model yet (weights arrive with issue 5)");
}

grpc::Status RolloutService::GetStatus(grpc::ServerContext*, const rollout::GetStatusRequest*,
                                       rollout::RolloutStatus* response) {
  const auto up = std::chrono::steady_clock::now() - started_;
  response->set_uptime_seconds(std::chrono::duration_cast<std::chrono::seconds>(up).count());
  return grpc::Status::OK;
}

}  // namespace dsrl
