#include "reward/judge_client.h"

#include <fmt/format.h>

#include <thread>

#include "common/log.h"
#include "model/tokenizer.h"
#include "proto/server.h"

namespace dsrl {
namespace {

// Failures in transit, worth another attempt; anything else is the worker refusing the request.
bool transient(grpc::StatusCode code) {
  return code == grpc::UNAVAILABLE || code == grpc::DEADLINE_EXCEEDED || code == grpc::RESOURCE_EXHAUSTED ||
         code == grpc::ABORTED;
}

}  // namespace

RolloutJudge::RolloutJudge(const JudgeConfig& config)
    : config_(config),
      tokenizer_(load_tokenizer(config.tokenizer)),
      stub_(rollout::Rollout::NewStub(make_channel(config.endpoint))) {}

RolloutJudge::~RolloutJudge() = default;

std::vector<Judgement> RolloutJudge::judge(const std::vector<std::string>& prompts) {
  std::vector<Judgement> out(prompts.size());
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(prompts.size());
  for (const auto& p : prompts) ids.push_back(tokenizer_->encode(p));
  const size_t batch = static_cast<size_t>(config_.batch_size);
  const size_t calls = (prompts.size() + batch - 1) / batch;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t c = next++; c < calls; c = next++) call(ids, c * batch, std::min(prompts.size(), (c + 1) * batch), &out);
  };
  std::vector<std::thread> pool;
  for (size_t k = 1; k < std::min<size_t>(calls, config_.concurrency); ++k) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

grpc::Status RolloutJudge::generate(const std::vector<std::vector<int32_t>>& ids, size_t begin, size_t end,
                                    rollout::GenerateResponse* response) {
  rollout::GenerateRequest request;
  for (size_t i = begin; i < end; ++i) {
    rollout::Prompt* p = request.add_prompts();
    p->set_id(std::to_string(i));
    p->mutable_token_ids()->Add(ids[i].begin(), ids[i].end());
  }
  request.set_samples_per_prompt(1);
  rollout::SamplingParams* s = request.mutable_sampling();
  s->set_temperature(static_cast<float>(config_.temperature));
  s->set_max_new_tokens(static_cast<uint32_t>(config_.max_new_tokens));
  for (int64_t id : config_.stop_token_ids) s->add_stop_token_ids(static_cast<int32_t>(id));
  s->set_seed(next_seed_++);
  grpc::Status status;
  double wait = config_.backoff_s;
  for (int64_t attempt = 0; attempt <= config_.retries; ++attempt) {
    if (attempt > 0) {
      logger("reward")->warn("judge call failed ({}), retry {} of {} in {:.2f} s", describe_status(status), attempt,
                             config_.retries, wait);
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      wait *= 2;
    }
    grpc::ClientContext context;
    prepare_call(context, config_.timeout_s);
    response->Clear();
    status = stub_->Generate(&context, request, response);
    if (status.ok() || !transient(status.error_code())) break;
  }
  return status;
}

void RolloutJudge::call(const std::vector<std::vector<int32_t>>& ids, size_t begin, size_t end,
                        std::vector<Judgement>* out) {
  rollout::GenerateResponse response;
  const grpc::Status status = generate(ids, begin, end, &response);
  if (!status.ok()) {
    if (!transient(status.error_code()) && end - begin > 1) {  // refused: find the prompts at fault
      const size_t mid = begin + (end - begin) / 2;
      call(ids, begin, mid, out);
      call(ids, mid, end, out);
      return;
    }
    const std::string why = transient(status.error_code())
                                ? fmt::format("judge at {} failed after {} attempts: {}", config_.endpoint,
                                              config_.retries + 1, describe_status(status))
                                : fmt::format("judge at {} refused the prompt: {}", config_.endpoint,
                                              describe_status(status));
    for (size_t i = begin; i < end; ++i) (*out)[i].error = why;
    return;
  }
  if (response.samples_size() != static_cast<int>(end - begin)) {
    for (size_t i = begin; i < end; ++i)
      (*out)[i].error = fmt::format("judge at {} returned {} samples for {} prompts", config_.endpoint,
                                    response.samples_size(), end - begin);
    return;
  }
  for (size_t i = begin; i < end; ++i) {
    const rollout::Sample& sample = response.samples(static_cast<int>(i - begin));
    Judgement& j = (*out)[i];
    if (sample.prompt_id() != std::to_string(i)) {
      j.error = fmt::format("judge at {} answered prompt '{}' in the place of '{}'", config_.endpoint,
                            sample.prompt_id(), i);
    } else if (sample.finish_reason() == rollout::FINISH_ABORTED) {
      j.error = fmt::format("judge at {} aborted the generation", config_.endpoint);
    } else {
      try {
        j.reply = tokenizer_->decode({sample.token_ids().begin(), sample.token_ids().end()});
      } catch (const std::exception& e) {
        j.error = fmt::format("judge reply could not be decoded with tokenizer '{}': {}", config_.tokenizer, e.what());
      }
    }
  }
}

}  // namespace dsrl
