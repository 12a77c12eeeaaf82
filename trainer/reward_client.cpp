#include "trainer/reward_client.h"

#include <chrono>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "proto/reward.grpc.pb.h"
#include "proto/server.h"

namespace dsrl {

struct RewardClient::Impl {
  std::string endpoint;
  std::unique_ptr<reward::Reward::Stub> stub;
  double deadline_s;
  int64_t retries;
  double backoff_s;
};

RewardClient::RewardClient(const std::string& endpoint, double deadline_s, int64_t retries, double backoff_s)
    : impl_(std::make_unique<Impl>(Impl{endpoint,
                                        reward::Reward::NewStub(make_channel(endpoint)),
                                        deadline_s, retries, backoff_s})) {}

RewardClient::~RewardClient() = default;

std::vector<RewardResult> RewardClient::score(const std::vector<RewardRequestItem>& items) {
  reward::ScoreRequest request;
  for (size_t i = 0; i < items.size(); ++i) {
    const RewardRequestItem& x = items[i];
    reward::RewardItem* r = request.add_items();
    r->set_id(x.id.empty() ? std::to_string(i) : x.id);
    r->set_task_type(x.task_type);
    r->set_prompt(x.prompt);
    r->set_response(x.response);
    r->set_reference_answer(x.reference_answer);
    r->mutable_files()->insert(x.files.begin(), x.files.end());
    r->set_rubric(x.rubric);
    r->set_target_language(x.target_language);
    r->set_response_tokens(static_cast<uint32_t>(x.response_tokens));
  }
  reward::ScoreResponse response;
  grpc::Status status;
  double wait = impl_->backoff_s;
  for (int64_t attempt = 0; attempt <= impl_->retries; ++attempt) {
    if (attempt > 0) {
      logger("trainer")->warn("reward service {}: {}; retry {} of {} in {:.1f} s", impl_->endpoint,
                              describe_status(status), attempt, impl_->retries, wait);
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      wait *= 2;
    }
    grpc::ClientContext context;
    prepare_call(context, impl_->deadline_s);
    // A retry waits (up to its deadline) for the service to come back, instead of failing at once on a channel
    // that is between reconnect attempts.
    context.set_wait_for_ready(attempt > 0);
    response.Clear();
    status = impl_->stub->Score(&context, request, &response);
    const auto code = status.error_code();
    if (status.ok() || (code != grpc::UNAVAILABLE && code != grpc::DEADLINE_EXCEEDED)) break;
  }
  if (!status.ok()) DSRL_FAIL("reward service {} failed: {}", impl_->endpoint, describe_status(status));
  DSRL_CHECK(response.scores_size() == request.items_size(), "reward service {} returned {} scores for {} items",
             impl_->endpoint, response.scores_size(), request.items_size());
  std::vector<RewardResult> out;
  for (const auto& s : response.scores()) {
    RewardResult r;
    r.total = s.total();
    r.signals.insert(s.signals().begin(), s.signals().end());
    r.error = s.error();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace dsrl
