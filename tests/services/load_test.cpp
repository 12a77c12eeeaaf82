// Load runs (ctest label `load`, not part of CI's `cpu` set; issue 11): the services under sustained traffic with
// their resident memory sampled every second. Each run fails on any error, on a wrong answer, or when memory keeps
// growing after the warm-up. They print one JSON summary line and, with DSRL_LOAD_OUT=FILE, append their RSS
// samples there (docs/reliability.md has the numbers).
//   DSRL_LOAD_SECONDS=600 build/tests/load_tests --gtest_filter='Load.Reward*'
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proto/reward.grpc.pb.h"
#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"
#include "tests/services/process.h"
#include "tests/services/tiny_model.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;
using Clock = std::chrono::steady_clock;

double seconds_from_env(double fallback) {
  const char* v = std::getenv("DSRL_LOAD_SECONDS");
  return v ? std::atof(v) : fallback;
}

// Resident set size of a process in MiB, from /proc/<pid>/status (0 if it is gone).
double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

// Samples a service's RSS every second on its own thread while a load runs.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : pid_(pid), thread_([this] { loop(); }) {}
  ~RssSampler() { stop(); }
  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<double> samples() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return samples_;
  }

 private:
  void loop() {
    while (running_) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        samples_.push_back(rss_mib(pid_));
      }
      for (int i = 0; i < 10 && running_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  pid_t pid_;
  std::atomic<bool> running_{true};
  mutable std::mutex mutex_;
  std::vector<double> samples_;
  std::thread thread_;
};

// Memory is flat when the highest sample of the last quarter is within 10% + 16 MiB of the highest sample at the
// end of the first quarter (the warm-up: thread stacks, arenas and caches grow to their working size there).
struct RssSummary {
  double warm_mib = 0, end_mib = 0, max_mib = 0;
  bool flat() const { return end_mib <= warm_mib * 1.10 + 16; }
};

RssSummary summarise(const std::vector<double>& s) {
  RssSummary out;
  if (s.size() < 8) return out;
  const size_t quarter = s.size() / 4;
  out.warm_mib = *std::max_element(s.begin(), s.begin() + quarter);
  out.end_mib = *std::max_element(s.end() - quarter, s.end());
  out.max_mib = *std::max_element(s.begin(), s.end());
  return out;
}

void record(const std::string& name, const std::vector<double>& samples, const std::string& summary) {
  std::cout << summary << std::endl;
  const char* out = std::getenv("DSRL_LOAD_OUT");
  if (!out) return;
  std::ofstream f(out, std::ios::app);
  f << summary << "\n{\"run\": \"" << name << "\", \"rss_mib_per_second\": [";
  for (size_t i = 0; i < samples.size(); ++i) f << (i ? ", " : "") << fmt::format("{:.1f}", samples[i]);
  f << "]}\n";
}

// --- rollout ---------------------------------------------------------------------------------------------------

rollout::GenerateRequest generate_request(uint64_t seed) {
  rollout::GenerateRequest r;
  auto* p = r.add_prompts();
  p->set_id("p" + std::to_string(seed));
  for (int t = 0; t < 24; ++t) p->add_token_ids(static_cast<int32_t>((seed * 31 + t * 7) % 250));
  r.set_samples_per_prompt(2);
  r.mutable_sampling()->set_temperature(1.0);
  r.mutable_sampling()->set_top_p(0.9);
  r.mutable_sampling()->set_max_new_tokens(16);
  r.mutable_sampling()->set_seed(seed);
  r.mutable_record()->set_sampling_mask(true);
  r.mutable_record()->set_routing_trace(true);
  return r;
}

TEST(Load, RolloutServes256ConcurrentGenerateStreams) {
  constexpr int kStreams = 256;
  const double seconds = seconds_from_env(120);
  ServiceProcess service(DSRL_ROLLOUT_BIN, {"--set", "model.checkpoint=" + testing::tiny_checkpoint(), "--set",
                                            "engine.max_context=512", "--set", "engine.max_sequences=64"});
  auto stub = rollout::Rollout::NewStub(make_channel(service.address()));
  RssSampler rss(service.pid());
  std::atomic<int64_t> calls{0}, tokens{0}, failures{0};
  std::atomic<uint32_t> peak_sequences{0};
  std::mutex first_error_mutex;
  std::string first_error;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.emplace_back([&, i] {
      for (uint64_t round = 0; Clock::now() < deadline; ++round) {
        const rollout::GenerateRequest request = generate_request(i * 1000003ull + round);
        rollout::GenerateResponse out;
        grpc::ClientContext context;
        prepare_call(context, 300);
        const grpc::Status s = stub->Generate(&context, request, &out);
        bool good = s.ok() && out.samples_size() == 2;
        for (const auto& sample : out.samples())
          good = good && sample.token_ids_size() >= 1 && sample.logprobs_size() == sample.token_ids_size() &&
                 sample.sampling_mask().positions_size() == sample.token_ids_size();
        ++calls;
        for (const auto& sample : out.samples()) tokens += sample.token_ids_size();
        if (!good && failures++ == 0) {
          std::lock_guard<std::mutex> lock(first_error_mutex);
          first_error = s.ok() ? "incomplete answer" : s.error_message();
        }
      }
    });
  }
  while (Clock::now() < deadline) {  // how many sequences the worker holds at once: running + queued
    grpc::ClientContext context;
    prepare_call(context, 5);
    rollout::RolloutStatus st;
    if (stub->GetStatus(&context, rollout::GetStatusRequest(), &st).ok())
      peak_sequences = std::max(peak_sequences.load(), st.running_sequences() + st.queued_sequences());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& t : streams) t.join();
  rss.stop();
  const RssSummary m = summarise(rss.samples());
  record("rollout_256_streams", rss.samples(),
         fmt::format("{{\"run\": \"rollout_256_streams\", \"seconds\": {:.0f}, \"calls\": {}, \"tokens\": {}, "
                     "\"failures\": {}, \"peak_sequences\": {}, \"rss_warm_mib\": {:.1f}, \"rss_end_mib\": {:.1f}, "
                     "\"rss_max_mib\": {:.1f}}}",
                     seconds, calls.load(), tokens.load(), failures.load(), peak_sequences.load(), m.warm_mib,
                     m.end_mib, m.max_mib));
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_GE(calls.load(), kStreams);
  EXPECT_GE(peak_sequences.load(), 2u * kStreams * 3 / 4) << "the streams were not concurrent";
  EXPECT_GE(rss.samples().size(), 8u) << "too short to judge memory: run at least 8 s (DSRL_LOAD_SECONDS)";
  EXPECT_TRUE(m.flat()) << "RSS grew from " << m.warm_mib << " MiB to " << m.end_mib << " MiB";
  EXPECT_EQ(service.stop(SIGTERM, 30), 0) << service.log();
}

// --- reward ----------------------------------------------------------------------------------------------------

reward::ScoreRequest score_request(int client, int64_t round) {
  reward::ScoreRequest r;
  for (int i = 0; i < 64; ++i) {
    const int64_t a = (round * 64 + i) % 97, b = client + i;
    auto* item = r.add_items();
    item->set_id(std::to_string(i));
    item->set_task_type(i % 2 ? "math" : "zh_reasoning");
    item->set_prompt(fmt::format("What is {} + {}?", a, b));
    item->set_response(i % 2 ? fmt::format("<think>adding</think> The answer is \\boxed{{{}}}.", a + b + i % 3)
                             : fmt::format("<think>相加</think> 答案是 \\boxed{{{}}}", a + b));
    item->set_reference_answer(std::to_string(a + b));
    if (i % 2 == 0) item->set_target_language("zh");
    item->set_response_tokens(static_cast<uint32_t>(20 + i));
  }
  return r;
}

TEST(Load, RewardServiceAtFullRateKeepsItsMemoryFlat) {
  const double seconds = seconds_from_env(600);
  const int clients = std::max(2u, std::thread::hardware_concurrency());
  ServiceProcess service(DSRL_REWARD_BIN, {"--config", DSRL_SOURCE_DIR "/configs/reward.yaml"});
  auto stub = reward::Reward::NewStub(make_channel(service.address()));
  RssSampler rss(service.pid());
  std::atomic<int64_t> items{0}, failures{0};
  std::mutex first_error_mutex;
  std::string first_error;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int64_t round = 0; Clock::now() < deadline; ++round) {
        const reward::ScoreRequest request = score_request(c, round);
        reward::ScoreResponse out;
        grpc::ClientContext context;
        prepare_call(context, 60);
        const grpc::Status s = stub->Score(&context, request, &out);
        bool good = s.ok() && out.scores_size() == request.items_size();
        for (int i = 0; good && i < out.scores_size(); ++i) {  // rule is 1 exactly when the answer is right
          const auto& signals = out.scores(i).signals();
          const auto rule = signals.find("rule");
          good = out.scores(i).error().empty() && rule != signals.end() &&
                 rule->second == ((i % 2 == 0 || i % 3 == 0) ? 1.0 : 0.0);
        }
        if (good) {
          items += out.scores_size();
        } else if (failures++ == 0) {
          std::lock_guard<std::mutex> lock(first_error_mutex);
          first_error = s.ok() ? "wrong or missing scores: " + out.ShortDebugString().substr(0, 600)
                               : s.error_message();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  rss.stop();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const RssSummary m = summarise(rss.samples());
  record("reward_full_rate", rss.samples(),
         fmt::format("{{\"run\": \"reward_full_rate\", \"seconds\": {:.0f}, \"clients\": {}, \"items\": {}, "
                     "\"items_per_s\": {:.0f}, \"failures\": {}, \"rss_warm_mib\": {:.1f}, \"rss_end_mib\": {:.1f}, "
                     "\"rss_max_mib\": {:.1f}}}",
                     elapsed, clients, items.load(), items.load() / elapsed, failures.load(), m.warm_mib, m.end_mib,
                     m.max_mib));
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_GT(items.load(), 0);
  EXPECT_GE(rss.samples().size(), 8u) << "too short to judge memory: run at least 8 s (DSRL_LOAD_SECONDS)";
  EXPECT_TRUE(m.flat()) << "RSS grew from " << m.warm_mib << " MiB to " << m.end_mib << " MiB";
  EXPECT_EQ(service.stop(SIGINT, 30), 0) << service.log();
}

}  // namespace
}  // namespace dsrl
