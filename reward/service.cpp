#include "reward/service.h"

#include "common/log.h"

namespace dsrl {

RewardService::RewardService(Scorer& scorer, CallAuth auth)
    : scorer_(scorer), auth_(std::move(auth)), started_(std::chrono::steady_clock::now()) {}

grpc::Status RewardService::Score(grpc::ServerContext* context, const reward::ScoreRequest* request,
                                  reward::ScoreResponse* response) {
  if (grpc::Status denied = auth_.check(context); !denied.ok()) return denied;
  struct InFlight {
    std::atomic<uint32_t>& n;
    explicit InFlight(std::atomic<uint32_t>& count) : n(count) { ++n; }
    ~InFlight() { --n; }
  } in_flight(in_flight_);
  std::vector<ScoreItem> items;
  items.reserve(request->items_size());
  for (const auto& i : request->items()) {
    items.push_back(ScoreItem{i.id(), i.task_type(), i.prompt(), i.response(), i.reference_answer(), i.rubric(),
                              i.target_language(), i.response_tokens(), i.length_budget(), {}});
    items.back().files.insert(i.files().begin(), i.files().end());
  }
  try {
    for (const ItemResult& r : scorer_.score(items)) {
      reward::ItemScore* s = response->add_scores();
      s->set_id(r.id);
      s->set_total(r.total);
      for (const auto& [name, value] : r.signals) (*s->mutable_signals())[name] = value;
      s->set_error(r.error);
    }
  } catch (const BatchError& e) {
    grpc::Status refused = refusal(grpc::INVALID_ARGUMENT, e.what());
    logger("reward")->warn("Score refused: {}", refused.error_message());
    return refused;
  } catch (const JudgeUnavailable& e) {
    grpc::Status failed = refusal(grpc::UNAVAILABLE, e.what());
    logger("reward")->warn("Score failed: {}", failed.error_message());
    return failed;
  }
  return grpc::Status::OK;
}

grpc::Status RewardService::GetStatus(grpc::ServerContext* context, const reward::GetStatusRequest*,
                                      reward::RewardStatus* response) {
  if (grpc::Status denied = auth_.check(context); !denied.ok()) return denied;
  for (const auto& name : scorer_.task_types()) response->add_task_types(name);
  response->set_items_scored(scorer_.items_scored());
  response->set_items_failed(scorer_.items_failed());
  response->set_in_flight(in_flight_);
  const auto up = std::chrono::steady_clock::now() - started_;
  response->set_uptime_seconds(std::chrono::duration_cast<std::chrono::seconds>(up).count());
  response->set_items_per_second(scorer_.items_per_second());
  response->set_judgements(scorer_.judgements());
  response->set_judgements_failed(scorer_.judgements_failed());
  return grpc::Status::OK;
}

}  // namespace dsrl
