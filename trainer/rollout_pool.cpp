#include "trainer/rollout_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <future>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/log.h"
#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"

namespace dsrl {
namespace {

rollout::DType wire_dtype(const std::string& name) {
  static const std::pair<const char*, rollout::DType> names[] = {
      {"float32", rollout::DTYPE_FLOAT32}, {"bfloat16", rollout::DTYPE_BFLOAT16}, {"float16", rollout::DTYPE_FLOAT16},
      {"float8_e4m3", rollout::DTYPE_FLOAT8_E4M3}, {"int32", rollout::DTYPE_INT32}, {"int64", rollout::DTYPE_INT64}};
  for (const auto& [n, d] : names)
    if (name == n) return d;
  DSRL_FAIL("no wire dtype for '{}'", name);
}

rollout::GenerateRequest to_proto(const RolloutRequest& r, size_t begin, size_t end) {
  rollout::GenerateRequest out;
  for (size_t i = begin; i < end; ++i) {
    rollout::Prompt* p = out.add_prompts();
    p->set_id(r.prompts[i].first);
    p->mutable_token_ids()->Add(r.prompts[i].second.begin(), r.prompts[i].second.end());
  }
  out.set_samples_per_prompt(static_cast<uint32_t>(r.samples_per_prompt));
  rollout::SamplingParams* s = out.mutable_sampling();
  s->set_temperature(static_cast<float>(r.temperature));
  s->set_top_p(static_cast<float>(r.top_p));
  s->set_top_k(static_cast<uint32_t>(r.top_k));
  s->set_vocab_limit(static_cast<uint32_t>(r.vocab_limit));
  s->set_max_new_tokens(static_cast<uint32_t>(r.max_new_tokens));
  for (int64_t id : r.stop_token_ids) s->add_stop_token_ids(static_cast<int32_t>(id));
  s->set_seed(r.seed ^ (0x9e3779b97f4a7c15ULL * (begin + 1)));  // each part its own streams
  out.mutable_record()->set_sampling_mask(r.record_mask);
  out.mutable_record()->set_routing_trace(r.record_routing);
  return out;
}

RolloutSample from_proto(const rollout::Sample& s) {
  RolloutSample out;
  out.prompt_id = s.prompt_id();
  out.sample_index = s.sample_index();
  out.tokens.assign(s.token_ids().begin(), s.token_ids().end());
  out.logprobs.assign(s.logprobs().begin(), s.logprobs().end());
  out.masks.assign(s.sampling_mask().positions().begin(), s.sampling_mask().positions().end());
  out.vocab_size = s.sampling_mask().vocab_size();
  const auto& r = s.routing();
  out.route_layers = r.num_layers();
  out.route_tokens = r.num_tokens();
  out.experts_per_token = r.experts_per_token();
  out.routes.resize(r.expert_ids().size() / 2);
  std::memcpy(out.routes.data(), r.expert_ids().data(), out.routes.size() * 2);  // little-endian hosts
  out.policy_versions.assign(s.policy_versions().begin(), s.policy_versions().end());
  out.stopped = s.finish_reason() == rollout::FINISH_STOP_TOKEN;
  return out;
}

}  // namespace

struct RolloutPool::Impl {
  std::vector<std::string> endpoints;
  std::vector<std::unique_ptr<rollout::Rollout::Stub>> stubs;
  RolloutPoolOptions options;
  std::atomic<size_t> next{0};  // round-robin start, so retries and parts spread
};

RolloutPool::RolloutPool(std::vector<std::string> endpoints, RolloutPoolOptions options)
    : impl_(std::make_unique<Impl>()) {
  DSRL_CHECK(!endpoints.empty(), "the rollout pool needs at least one endpoint");
  for (const auto& e : endpoints)
    impl_->stubs.push_back(rollout::Rollout::NewStub(make_channel(e)));
  impl_->endpoints = std::move(endpoints);
  impl_->options = options;
}

RolloutPool::~RolloutPool() = default;

size_t RolloutPool::size() const { return impl_->endpoints.size(); }

std::vector<RolloutSample> RolloutPool::generate(const RolloutRequest& request) {
  const size_t workers = impl_->endpoints.size(), n = request.prompts.size();
  const size_t parts = std::min(workers, n);
  const size_t first_worker = impl_->next++;
  // One part per worker; each part walks the workers from its own, on failure, until it has its samples.
  auto run_part = [&](size_t part) -> std::vector<RolloutSample> {
    const size_t begin = n * part / parts, end = n * (part + 1) / parts;
    const rollout::GenerateRequest proto = to_proto(request, begin, end);
    std::vector<std::string> errors;
    for (int64_t attempt = 0; attempt <= impl_->options.retries; ++attempt) {
      const size_t w = (first_worker + part + attempt) % workers;
      grpc::ClientContext context;
      prepare_call(context, impl_->options.deadline_s);
      rollout::GenerateResponse response;
      const grpc::Status status = impl_->stubs[w]->Generate(&context, proto, &response);
      const size_t expected = (end - begin) * request.samples_per_prompt;
      if (status.ok() && static_cast<size_t>(response.samples_size()) == expected) {
        std::vector<RolloutSample> out;
        for (const auto& s : response.samples()) out.push_back(from_proto(s));
        return out;
      }
      errors.push_back(fmt::format("{}: {}", impl_->endpoints[w],
                                   status.ok() ? fmt::format("{} samples for {} expected", response.samples_size(),
                                                             expected)
                                               : describe_status(status)));
      logger("trainer")->warn("rollout call for prompts [{}, {}) failed on {}; {}", begin, end, errors.back(),
                              attempt < impl_->options.retries ? "retrying on another worker" : "giving up");
    }
    DSRL_FAIL("rollout of prompts [{}, {}) failed on every attempt: {}", begin, end, fmt::join(errors, "; "));
  };
  std::vector<std::future<std::vector<RolloutSample>>> futures;
  for (size_t p = 0; p < parts; ++p) futures.push_back(std::async(std::launch::async, run_part, p));
  std::vector<RolloutSample> samples;
  std::string failure;
  for (auto& f : futures) {
    try {
      auto part = f.get();
      samples.insert(samples.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!failure.empty()) throw Error(failure);
  return samples;
}

void RolloutPool::push_weights(uint64_t version, const std::vector<WeightTensor>& tensors) {
  auto push_one = [&](size_t w) {
    grpc::ClientContext context;
    prepare_call(context, impl_->options.push_deadline_s);
    rollout::UpdateWeightsResponse response;
    auto writer = impl_->stubs[w]->UpdateWeights(&context, &response);
    bool open = true;
    for (const WeightTensor& t : tensors) {
      const size_t step = static_cast<size_t>(impl_->options.chunk_bytes);
      for (size_t from = 0; open && (from < t.bytes || (from == 0 && t.bytes == 0)); from += step) {
        rollout::WeightChunk c;
        c.set_version(version);
        c.set_total_tensors(static_cast<uint32_t>(tensors.size()));
        c.set_tensor_name(t.name);
        for (int64_t d : t.shape) c.add_shape(d);
        c.set_dtype(wire_dtype(t.dtype));
        c.set_byte_offset(from);
        c.set_data(static_cast<const char*>(t.data) + from, std::min(step, t.bytes - from));
        c.set_crc32c(crc32c(c.data().data(), c.data().size()));
        open = writer->Write(c);
        if (t.bytes == 0) break;
      }
    }
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    if (!status.ok())
      DSRL_FAIL("weight update to version {} refused by rollout worker {}: {}", version, impl_->endpoints[w],
                describe_status(status));
  };
  std::vector<std::future<void>> futures;
  for (size_t w = 0; w < impl_->endpoints.size(); ++w) futures.push_back(std::async(std::launch::async, push_one, w));
  std::string failure;
  for (auto& f : futures) {
    try {
      f.get();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!failure.empty()) throw Error(failure);
}

uint64_t RolloutPool::serving_version() {
  uint64_t version = 0;
  for (size_t w = 0; w < impl_->endpoints.size(); ++w) {
    grpc::ClientContext context;
    prepare_call(context, 30);
    rollout::RolloutStatus status;
    const grpc::Status s = impl_->stubs[w]->GetStatus(&context, rollout::GetStatusRequest(), &status);
    if (!s.ok()) DSRL_FAIL("rollout worker {} did not answer GetStatus: {}", impl_->endpoints[w], describe_status(s));
    version = std::max<uint64_t>(version, status.policy_version());
  }
  return version;
}

}  // namespace dsrl
