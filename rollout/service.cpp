#include "rollout/service.h"

#include "common/log.h"

namespace dsrl {
namespace {

grpc::Status status_of(const RequestError& e) {
  static const grpc::StatusCode codes[] = {grpc::INVALID_ARGUMENT, grpc::RESOURCE_EXHAUSTED,
                                           grpc::FAILED_PRECONDITION, grpc::DATA_LOSS};
  return refusal(codes[e.code()], e.what());
}

GenerationRequest from_proto(const rollout::GenerateRequest& r) {
  GenerationRequest out;
  for (const auto& p : r.prompts()) out.prompts.push_back({p.id(), {p.token_ids().begin(), p.token_ids().end()}});
  out.samples_per_prompt = r.samples_per_prompt();
  const auto& s = r.sampling();
  out.sampling.temperature = s.temperature();
  out.sampling.top_k = s.top_k();
  out.sampling.top_p = s.top_p() == 0 ? 1.0 : s.top_p();
  out.sampling.vocab_limit = s.vocab_limit();
  out.sampling.max_new_tokens = s.max_new_tokens();
  out.sampling.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  out.sampling.seed = s.seed();
  out.record_mask = r.record().sampling_mask();
  out.record_routing = r.record().routing_trace();
  out.record_indexer = r.record().indexer_topk();
  out.allow_version_change = r.allow_version_change();
  return out;
}

rollout::FinishReason finish_of(FinishReason f) {
  switch (f) {
    case FinishReason::kStopToken: return rollout::FINISH_STOP_TOKEN;
    case FinishReason::kMaxNewTokens: return rollout::FINISH_MAX_NEW_TOKENS;
    case FinishReason::kContextLimit: return rollout::FINISH_CONTEXT_LIMIT;
    case FinishReason::kAborted: return rollout::FINISH_ABORTED;
  }
  return rollout::FINISH_REASON_UNSPECIFIED;
}

void to_proto(GeneratedSample& s, const GenerationRequest& req, int64_t vocab, rollout::Sample* out) {
  out->set_prompt_id(s.prompt_id);
  out->set_sample_index(static_cast<uint32_t>(s.sample_index));
  out->mutable_token_ids()->Add(s.tokens.begin(), s.tokens.end());
  out->mutable_logprobs()->Add(s.logprobs.begin(), s.logprobs.end());
  if (req.record_mask) {
    out->mutable_sampling_mask()->set_vocab_size(static_cast<uint32_t>(vocab));
    for (auto& m : s.mask) out->mutable_sampling_mask()->add_positions(std::move(m));
  }
  if (req.record_routing) {
    auto* r = out->mutable_routing();
    r->set_num_layers(static_cast<uint32_t>(s.routing_layers));
    r->set_num_tokens(static_cast<uint32_t>(s.routing_tokens));
    r->set_experts_per_token(static_cast<uint32_t>(s.experts_per_token));
    std::string bytes(s.routing.size() * 2, '\0');
    for (size_t i = 0; i < s.routing.size(); ++i) {  // little-endian uint16
      bytes[2 * i] = static_cast<char>(s.routing[i] & 0xff);
      bytes[2 * i + 1] = static_cast<char>(s.routing[i] >> 8);
    }
    r->set_expert_ids(std::move(bytes));
  }
  if (req.record_indexer) {
    auto* x = out->mutable_indexer();
    x->set_num_layers(static_cast<uint32_t>(s.indexer_layers));
    x->set_num_tokens(static_cast<uint32_t>(s.indexer_tokens));
    x->set_topk(static_cast<uint32_t>(s.indexer_topk));
    std::string bytes(s.indexer.size() * 4, '\0');
    for (size_t i = 0; i < s.indexer.size(); ++i) {  // little-endian int32
      const auto v = static_cast<uint32_t>(s.indexer[i]);
      for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<char>((v >> (8 * b)) & 0xff);
    }
    x->set_positions(std::move(bytes));
  }
  out->mutable_policy_versions()->Add(s.policy_versions.begin(), s.policy_versions.end());
  out->set_finish_reason(finish_of(s.finish));
}

const char* dtype_of(rollout::DType d) {
  switch (d) {
    case rollout::DTYPE_FLOAT32: return "float32";
    case rollout::DTYPE_BFLOAT16: return "bfloat16";
    case rollout::DTYPE_FLOAT16: return "float16";
    case rollout::DTYPE_FLOAT8_E4M3: return "float8_e4m3";
    case rollout::DTYPE_INT32: return "int32";
    case rollout::DTYPE_INT64: return "int64";
    default: return "unspecified";
  }
}

}  // namespace

RolloutService::RolloutService(Engine& engine, CallAuth auth)
    : engine_(engine), auth_(std::move(auth)), started_(std::chrono::steady_clock::now()) {}

grpc::Status RolloutService::Generate(grpc::ServerContext* context, const rollout::GenerateRequest* request,
                                      rollout::GenerateResponse* response) {
  if (grpc::Status denied = auth_.check(context); !denied.ok()) return denied;
  GenerationRequest req = from_proto(*request);
  std::shared_ptr<GenerationJob> job;
  try {
    job = engine_.submit(req);
  } catch (const RequestError& e) {
    grpc::Status refused = status_of(e);
    logger("rollout")->warn("Generate refused: {}", refused.error_message());
    return refused;
  }
  while (!job->wait_for(std::chrono::milliseconds(20))) {
    if (context->IsCancelled()) {  // the client went away or its deadline passed: free the rows
      job->cancel();
      job->wait_for(std::chrono::seconds(60));
      return grpc::Status(grpc::CANCELLED, "Generate cancelled by the client or its deadline");
    }
  }
  const int64_t vocab = engine_.status().vocab_size;
  for (auto& s : job->take_samples()) to_proto(s, req, vocab, response->add_samples());
  return grpc::Status::OK;
}

grpc::Status RolloutService::UpdateWeights(grpc::ServerContext* context,
                                           grpc::ServerReader<rollout::WeightChunk>* reader,
                                           rollout::UpdateWeightsResponse* response) {
  if (grpc::Status denied = auth_.check(context); !denied.ok()) return denied;  // before any chunk is read
  std::unique_ptr<WeightUpdate> update = engine_.begin_update();
  rollout::WeightChunk chunk;
  try {
    int64_t chunks = 0;
    while (reader->Read(&chunk)) {
      WeightPiece piece{chunk.version(), chunk.total_tensors(), chunk.tensor_name(),
                        {chunk.shape().begin(), chunk.shape().end()}, dtype_of(chunk.dtype()), chunk.byte_offset(),
                        std::move(*chunk.mutable_data()), chunk.crc32c()};
      update->add(piece);
      ++chunks;
    }
    if (context->IsCancelled()) {  // the sender died or gave up before ending the stream: it never saw a reply
      logger("rollout")->warn("UpdateWeights: stream cut off after {} chunk(s); old weights kept", chunks);
      return grpc::Status(grpc::CANCELLED, "weight update cut off before the stream ended; old weights kept");
    }
    const WeightUpdate::Result r = update->commit();
    response->set_version(r.version);
    response->set_tensors(static_cast<uint32_t>(r.tensors));
    response->set_bytes(r.bytes);
    return grpc::Status::OK;
  } catch (const RequestError& e) {
    grpc::Status refused = status_of(e);
    logger("rollout")->warn("UpdateWeights: {}", refused.error_message());
    return refused;
  }
}

grpc::Status RolloutService::GetStatus(grpc::ServerContext* context, const rollout::GetStatusRequest*,
                                       rollout::RolloutStatus* response) {
  if (grpc::Status denied = auth_.check(context); !denied.ok()) return denied;
  const EngineStatus s = engine_.status();
  response->set_policy_version(s.policy_version);
  response->set_model(s.model);
  response->set_vocab_size(static_cast<uint32_t>(s.vocab_size));
  response->set_running_sequences(static_cast<uint32_t>(s.running));
  response->set_queued_sequences(static_cast<uint32_t>(s.queued));
  response->set_kv_cache_used_bytes(static_cast<uint64_t>(s.kv_used_bytes));
  response->set_kv_cache_capacity_bytes(static_cast<uint64_t>(s.kv_capacity_bytes));
  response->set_tokens_per_second(s.tokens_per_second);
  response->set_mask_bytes_per_token(s.mask_bytes_per_token);
  const auto up = std::chrono::steady_clock::now() - started_;
  response->set_uptime_seconds(std::chrono::duration_cast<std::chrono::seconds>(up).count());
  return grpc::Status::OK;
}

}  // namespace dsrl
