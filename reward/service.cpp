#include "reward/service.h"

namespace dsrl {

RewardService::RewardService() : started_(std::chrono::steady_clock::now()) {}

grpc::Status RewardService::Score(grpc::ServerContext*, const reward::ScoreRequest*, reward::ScoreResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "Score: this dsrl-reward has no reward signals yet (they arrive with issue 6)");
}

grpc::Status RewardService::GetStatus(grpc::ServerContext*, const reward::GetStatusRequest*,
                                      reward::RewardStatus* response) {
  const auto up = std::chrono::steady_clock::now() - started_;
  response->set_uptime_seconds(std::chrono::duration_cast<std::chrono::seconds>(up).count());
  return grpc::Status::OK;
}

}  // namespace dsrl
