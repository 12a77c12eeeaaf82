// The trainer's side of the rollout workers (torch-free: it includes the generated gRPC code). Plain structs in
// and out, so the torch side never sees protobuf.
//   RolloutPool pool({"127.0.0.1:5001", "127.0.0.1:5002"}, options);
//   std::vector<RolloutSample> samples = pool.generate(request);   // B prompts x G samples, each counted once
//   pool.push_weights(version, tensors);                           // every worker, chunked and checksummed
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dsrl {

struct RolloutRequest {
  std::vector<std::pair<std::string, std::vector<int32_t>>> prompts;  // (id, token ids)
  int64_t samples_per_prompt = 1;
  double temperature = 1.0;
  double top_p = 1.0;                  // 0 or 1: off
  int64_t top_k = 0;                   // 0: off
  int64_t vocab_limit = 0;             // sample only ids below it; 0: the whole vocabulary
  int64_t max_new_tokens = 64;
  std::vector<int64_t> stop_token_ids;
  uint64_t seed = 0;
  bool record_mask = false;            // keep sampling mask
  bool record_routing = false;         // keep routing
};

struct RolloutSample {
  std::string prompt_id;
  int64_t sample_index = 0;
  std::vector<int32_t> tokens;         // generated, a final stop token included
  std::vector<float> logprobs;         // behaviour log-probs, one per generated token
  std::vector<std::string> masks;      // encoded kept sets (proto/sampling_mask.h), one per generated token
  int64_t vocab_size = 0;              // of the masks
  std::vector<uint16_t> routes;        // [route_layers, route_tokens, experts_per_token]
  int64_t route_layers = 0, route_tokens = 0, experts_per_token = 0;
  std::vector<uint64_t> policy_versions;
  bool stopped = false;                // ended with a stop token (not the length cap)
};

// One tensor of a weight update: raw little-endian bytes in the worker's dtype ("float32", "bfloat16", ...).
struct WeightTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;
  const void* data = nullptr;
  size_t bytes = 0;
};

struct RolloutPoolOptions {
  double deadline_s = 600;        // per Generate call
  int64_t retries = 2;            // a failed call's prompts go to another worker, this many times at most
  double push_deadline_s = 600;   // per UpdateWeights stream
  int64_t chunk_bytes = 4 << 20;  // UpdateWeights chunk size
};

class RolloutPool {
 public:
  RolloutPool(std::vector<std::string> endpoints, RolloutPoolOptions options);
  ~RolloutPool();
  // Splits the prompts evenly over the workers (one concurrent call each). A call that fails is retried, prompts
  // and all, on the next worker; samples come back in request order (prompt-major, sample_index within), each
  // exactly once. Throws dsrl::Error naming the workers and errors when a part fails on every attempt.
  std::vector<RolloutSample> generate(const RolloutRequest& request);
  // Streams the tensors to every worker as policy `version`; throws dsrl::Error naming a worker that refused.
  void push_weights(uint64_t version, const std::vector<WeightTensor>& tensors);
  // The highest policy version any worker serves (GetStatus); throws if a worker does not answer.
  uint64_t serving_version();
  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsrl
