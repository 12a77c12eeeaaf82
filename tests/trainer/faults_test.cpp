// Faults the trainer's clients survive, against real service processes on 127.0.0.1 (torch-free: the clients of
// dsrl_trainer_rpc): a rollout worker killed in the middle of a Generate call, whose prompts then go to the other
// worker with every prompt's samples arriving exactly once; and a reward service that is down and comes up while
// the client retries with backoff, or never comes up (a clear error in bounded time).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"
#include "tests/services/process.h"
#include "trainer/reward_client.h"
#include "trainer/rollout_pool.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;
using Clock = std::chrono::steady_clock;

ServiceProcess start_worker() {
  return ServiceProcess(DSRL_ROLLOUT_BIN, {"--set", "model.config=" DSRL_SOURCE_DIR "/configs/model/tiny.yaml",
                                          "--set", "engine.max_context=512"});
}

uint32_t running_sequences(rollout::Rollout::Stub& stub) {
  grpc::ClientContext context;
  prepare_call(context, 2);
  rollout::RolloutStatus status;
  return stub.GetStatus(&context, rollout::GetStatusRequest(), &status).ok() ? status.running_sequences() : 0;
}

TEST(TrainerFaults, AWorkerKilledMidCallLosesNoPromptAndDuplicatesNone) {
  ServiceProcess doomed = start_worker(), survivor = start_worker();
  RolloutPoolOptions options;
  options.deadline_s = 120;
  options.retries = 2;
  RolloutPool pool({doomed.address(), survivor.address()}, options);
  RolloutRequest request;
  for (int p = 0; p < 6; ++p) request.prompts.push_back({"p" + std::to_string(p), {256, 80 + p, 104, 105, 32}});
  request.samples_per_prompt = 3;
  request.max_new_tokens = 400;  // long enough to be caught in the middle
  request.seed = 7;
  auto result = std::async(std::launch::async, [&] { return pool.generate(request); });
  // Wait until the doomed worker is decoding its part, then kill it outright.
  auto doomed_status = rollout::Rollout::NewStub(make_channel(doomed.address()));
  bool mid_call = false;
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (!mid_call && Clock::now() < give_up &&
         result.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready)
    mid_call = running_sequences(*doomed_status) > 0;
  ASSERT_TRUE(mid_call) << "the doomed worker never started decoding";
  doomed.stop(SIGKILL);
  const std::vector<RolloutSample> samples = result.get();
  ASSERT_EQ(samples.size(), 18u);
  std::map<std::string, std::set<int64_t>> seen;
  for (const RolloutSample& s : samples) {
    EXPECT_TRUE(seen[s.prompt_id].insert(s.sample_index).second) << s.prompt_id << " sample " << s.sample_index
                                                                  << " arrived twice";
    EXPECT_FALSE(s.tokens.empty());
  }
  ASSERT_EQ(seen.size(), 6u);
  for (const auto& [prompt, indices] : seen) EXPECT_EQ(indices, (std::set<int64_t>{0, 1, 2})) << prompt;
  EXPECT_EQ(samples.front().prompt_id, "p0") << "samples come back in request order";
}

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("no free port");
  close(fd);
  return ntohs(addr.sin_port);
}

std::vector<RewardRequestItem> one_item() {
  RewardRequestItem item;
  item.id = "a";
  item.task_type = "math";
  item.response = "\\boxed{4}";
  item.reference_answer = "4";
  return {item};
}

TEST(TrainerFaults, TheRewardClientWaitsOutAServiceThatComesBack) {
  const int port = free_port();
  // Retries after 0.2, 0.4, ... s, each waiting up to 5 s for the service.
  RewardClient client("127.0.0.1:" + std::to_string(port), 5, 5, 0.2);
  const auto start = Clock::now();
  auto scored = std::async(std::launch::async, [&] { return client.score(one_item()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_NE(scored.wait_for(std::chrono::seconds(0)), std::future_status::ready) << "no service, yet an answer";
  ServiceProcess service(DSRL_REWARD_BIN, {"--config", DSRL_SOURCE_DIR "/configs/reward.yaml"}, port);
  const std::vector<RewardResult> results = scored.get();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].error, "");
  EXPECT_EQ(results[0].signals.at("rule"), 1.0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 15.0) << "scored soon after it came up";
  EXPECT_EQ(service.stop(SIGTERM), 0);
}

TEST(TrainerFaults, TheRewardClientGivesUpOnADeadServiceInBoundedTime) {
  const int port = free_port();
  // 3 attempts: the first fails at once, the two retries wait out their 1 s deadlines; 0.1 + 0.2 s of backoff.
  RewardClient client("127.0.0.1:" + std::to_string(port), 1, 2, 0.1);
  const auto start = Clock::now();
  try {
    client.score(one_item());
    ADD_FAILURE() << "scored without a service";
  } catch (const std::exception& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("reward service 127.0.0.1:" + std::to_string(port) + " failed: "), std::string::npos)
        << message;
    EXPECT_TRUE(message.find("DEADLINE_EXCEEDED") != std::string::npos ||
                message.find("UNAVAILABLE") != std::string::npos) << message;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GT(seconds, 2.0) << "the retries waited for the service";
  EXPECT_LT(seconds, 6.0);
}

}  // namespace
}  // namespace dsrl
