// The generation engine behind dsrl-rollout, as plain structs and an abstract class: the gRPC service (which
// includes protobuf headers) talks to it without seeing torch. engine_impl.cpp implements it on the model.
//
// Continuous batching: every sample is a sequence; sequences take rows of one KV cache as rows free up (FIFO
// queue, never an error for lack of room), are prefilled together, then decode one token per step with everyone
// running; a finished sequence leaves at once. Each sample draws from its own random stream seeded by
// (seed, prompt index, sample index), so the same request on the same weights gives the same tokens on CPU.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rollout/config.h"

namespace dsrl {

// A request the engine refuses: the service maps `code` to a gRPC status and keeps serving.
class RequestError : public std::runtime_error {
 public:
  enum Code { kInvalidArgument, kResourceExhausted, kFailedPrecondition, kDataLoss };
  RequestError(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

struct SamplingSpec {
  double temperature = 1.0;            // >= 0; 0 = greedy
  int64_t top_k = 0;                   // 0 = off
  double top_p = 1.0;                  // (0, 1]; 1 = off
  int64_t vocab_limit = 0;             // sample only ids below it (a tokenizer smaller than the model); 0 = all
  int64_t max_new_tokens = 16;         // >= 1
  std::vector<int64_t> stop_token_ids;
  uint64_t seed = 0;
};

struct GenerationRequest {
  struct Prompt {
    std::string id;
    std::vector<int64_t> tokens;
  };
  std::vector<Prompt> prompts;
  int64_t samples_per_prompt = 1;
  SamplingSpec sampling;
  bool record_mask = false, record_routing = false, record_indexer = false;
  bool allow_version_change = false;
};

enum class FinishReason { kStopToken, kMaxNewTokens, kContextLimit, kAborted };

struct GeneratedSample {
  std::string prompt_id;
  int64_t sample_index = 0;
  std::vector<int64_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::string> mask;          // encoded kept set per generated token (rollout/sampling_mask.h)
  int64_t routing_layers = 0, routing_tokens = 0, experts_per_token = 0;
  std::vector<uint16_t> routing;          // [routing_layers, routing_tokens, experts_per_token]
  int64_t indexer_layers = 0, indexer_tokens = 0, indexer_topk = 0;
  std::vector<int32_t> indexer;           // [indexer_layers, indexer_tokens, indexer_topk], -1 = no key
  std::vector<uint64_t> policy_versions;  // oldest first
  FinishReason finish = FinishReason::kAborted;
};

// One Generate call in flight.
class GenerationJob {
 public:
  virtual ~GenerationJob() = default;
  // True once every sample has finished (or the job was cancelled).
  virtual bool wait_for(std::chrono::milliseconds timeout) = 0;
  // Stops the job's sequences and frees their cache rows; its samples finish as kAborted.
  virtual void cancel() = 0;
  // [B * G] grouped by prompt in request order; call after wait_for returned true.
  virtual std::vector<GeneratedSample> take_samples() = 0;
};

// One tensor piece of a weight update (rollout.proto WeightChunk, checked by the service's caller).
struct WeightPiece {
  uint64_t version = 0;
  int64_t total_tensors = 0;
  std::string name;              // HF checkpoint name
  std::vector<int64_t> shape;
  std::string dtype;             // "float32", "bfloat16", "float16", "float8_e4m3", "int32", "int64"
  uint64_t byte_offset = 0;
  std::string data;
  uint32_t crc32c = 0;
};

// A weight update being assembled in a staging copy; nothing reaches the model before commit().
class WeightUpdate {
 public:
  virtual ~WeightUpdate() = default;
  // Checks and stages one piece; throws RequestError naming the problem (crc, unknown tensor, shape, dtype,
  // bounds, overlap, version).
  virtual void add(const WeightPiece& piece) = 0;
  struct Result {
    uint64_t version = 0;
    int64_t tensors = 0;
    uint64_t bytes = 0;
  };
  // Checks that every announced tensor arrived whole, then installs it between decode steps (waiting for the
  // sequences that may not change version) and returns. Throws RequestError when incomplete.
  virtual Result commit() = 0;
};

struct EngineStatus {
  uint64_t policy_version = 0;
  std::string model;
  int64_t vocab_size = 0;
  int64_t running = 0, queued = 0;
  int64_t prefills = 0;  // prefill forwards since start (engine.max_prefill_tokens splits them)
  int64_t kv_used_bytes = 0, kv_capacity_bytes = 0;
  double tokens_per_second = 0;
  double mask_bytes_per_token = 0;
};

class Engine {
 public:
  // Loads the model and starts the engine thread. Throws dsrl::Error on a bad model source.
  static std::unique_ptr<Engine> create(const RolloutServiceConfig& config);
  virtual ~Engine() = default;
  // Validates and queues; throws RequestError (nothing queued) on a bad request.
  virtual std::shared_ptr<GenerationJob> submit(GenerationRequest request) = 0;
  virtual std::unique_ptr<WeightUpdate> begin_update() = 0;
  virtual EngineStatus status() = 0;  // never blocks on generation
};

}  // namespace dsrl
