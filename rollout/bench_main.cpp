// dsrl-bench-rollout: generation throughput of a running dsrl-rollout over gRPC (torch-free). Sends `clients`
// concurrent Generate calls of `prompts` prompts x `samples` samples each, random prompt tokens, top_p sampling
// with a fixed number of new tokens, and prints one JSON line: generated tokens per second over the whole run.
//   dsrl-bench-rollout ADDRESS [--clients 1] [--prompts 64] [--samples 1] [--prompt-len 128] [--new 128]
//                      [--top-p 0.95] [--vocab 32000] [--record 0]
// --record 1 asks for what an RL step needs: sampling masks and routing traces.
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"

namespace {

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: dsrl-bench-rollout ADDRESS [--clients N] [--prompts N] [--samples N] [--prompt-len N] "
                 "[--new N] [--top-p P] [--vocab V] [--record 0|1]\n";
    return 2;
  }
  std::map<std::string, double> flags = {{"--clients", 1}, {"--prompts", 64},   {"--samples", 1},
                                         {"--prompt-len", 128}, {"--new", 128}, {"--top-p", 0.95},
                                         {"--vocab", 32000}, {"--record", 0}};
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!flags.count(argv[i])) {
      std::cerr << "dsrl-bench-rollout: unknown flag " << argv[i] << "\n";
      return 2;
    }
    flags[argv[i]] = std::stod(argv[i + 1]);
  }
  auto stub = dsrl::rollout::Rollout::NewStub(dsrl::make_channel(argv[1]));
  const int clients = static_cast<int>(flags["--clients"]);
  auto request = [&](int client) {
    dsrl::rollout::GenerateRequest r;
    for (int p = 0; p < flags["--prompts"]; ++p) {
      auto* prompt = r.add_prompts();
      prompt->set_id(std::to_string(client) + "/" + std::to_string(p));
      for (int t = 0; t < flags["--prompt-len"]; ++t)
        prompt->add_token_ids(static_cast<int>((t * 7919 + p * 104729 + client * 13) % static_cast<int>(flags["--vocab"])));
    }
    r.set_samples_per_prompt(static_cast<uint32_t>(flags["--samples"]));
    r.mutable_sampling()->set_temperature(1.0);
    r.mutable_sampling()->set_top_p(static_cast<float>(flags["--top-p"]));
    r.mutable_sampling()->set_max_new_tokens(static_cast<uint32_t>(flags["--new"]));
    r.mutable_sampling()->set_seed(static_cast<uint64_t>(client));
    r.mutable_record()->set_sampling_mask(flags["--record"] != 0);
    r.mutable_record()->set_routing_trace(flags["--record"] != 0);
    return r;
  };
  auto call = [&](int client, int64_t* tokens) {
    grpc::ClientContext context;
    dsrl::prepare_call(context, 3600);
    dsrl::rollout::GenerateResponse out;
    grpc::Status s = stub->Generate(&context, request(client), &out);
    if (!s.ok()) throw std::runtime_error("Generate failed: " + s.error_message());
    for (const auto& sample : out.samples()) *tokens += sample.token_ids_size();
  };
  int64_t warm = 0;
  call(clients, &warm);  // warm-up (its own prompts)
  std::vector<int64_t> tokens(clients, 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) threads.emplace_back([&, c] { call(c, &tokens[c]); });
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t total = 0;
  for (int64_t t : tokens) total += t;
  std::cout << "{\"impl\":\"dsrl-rollout\",\"sequences\":" << clients * flags["--prompts"] * flags["--samples"]
            << ",\"prompt_len\":" << flags["--prompt-len"] << ",\"new_tokens\":" << flags["--new"]
            << ",\"top_p\":" << flags["--top-p"] << ",\"record\":" << flags["--record"] << ",\"seconds\":" << seconds
            << ",\"gen_tokens_per_s\":" << static_cast<int64_t>(total / seconds) << "}" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "dsrl-bench-rollout: " << e.what() << std::endl;
    return 1;
  }
}
