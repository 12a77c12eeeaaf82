#include "trainer/service_probe.h"

#include <fmt/format.h>

#include <chrono>

#include "proto/reward.grpc.pb.h"
#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"

namespace dsrl {

void use_client_auth(const ClientAuthConfig& config) { set_client_auth(config); }
namespace {

// Calls `stub->GetStatus` with a deadline and fills ok/latency/detail.
template <class Stub, class Request, class Reply, class Describe>
EndpointProbe probe(const std::string& endpoint, const std::string& service, double deadline_s,
                    Describe&& describe_reply) {
  EndpointProbe result;
  result.endpoint = endpoint;
  result.service = service;
  auto channel = make_channel(endpoint);
  auto stub = Stub(channel);
  grpc::ClientContext context;
  prepare_call(context, deadline_s);
  Request request;
  Reply reply;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status = stub.GetStatus(&context, request, &reply);
  result.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  result.ok = status.ok();
  result.detail = status.ok() ? describe_reply(reply) : describe_status(status);
  return result;
}

}  // namespace

EndpointProbe probe_rollout(const std::string& endpoint, double deadline_s) {
  return probe<rollout::Rollout::Stub, rollout::GetStatusRequest, rollout::RolloutStatus>(
      endpoint, "rollout", deadline_s, [](const rollout::RolloutStatus& s) {
        return fmt::format("policy version {}, model '{}', {} running, {} queued, up {} s", s.policy_version(),
                           s.model(), s.running_sequences(), s.queued_sequences(), s.uptime_seconds());
      });
}

EndpointProbe probe_reward(const std::string& endpoint, double deadline_s) {
  return probe<reward::Reward::Stub, reward::GetStatusRequest, reward::RewardStatus>(
      endpoint, "reward", deadline_s, [](const reward::RewardStatus& s) {
        return fmt::format("{} task types, {} items scored, up {} s", s.task_types_size(), s.items_scored(),
                           s.uptime_seconds());
      });
}

}  // namespace dsrl
