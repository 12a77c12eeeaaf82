// dsrl-reward as a real process (Score over gRPC, offline scoring of a file), and every shipped service config
// parses with its binary.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "proto/reward.grpc.pb.h"
#include "proto/server.h"
#include "tests/reward/rpc_helpers.h"
#include "tests/services/process.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;

using testing::rpc_item;

grpc::Status score(reward::Reward::Stub& stub, const reward::ScoreRequest& request, reward::ScoreResponse* out) {
  grpc::ClientContext context;
  prepare_call(context, 10);
  return stub.Score(&context, request, out);
}

TEST(RewardService, ScoresOverGrpcAndReportsEachSignal) {
  ServiceProcess service(DSRL_REWARD_BIN, {"--config", DSRL_SOURCE_DIR "/configs/reward.yaml"});
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  reward::ScoreRequest request;
  *request.add_items() = rpc_item("good", "math", "<think>2+2=4</think> The answer is \\boxed{4}.", "4");
  request.mutable_items(0)->set_response_tokens(100);
  *request.add_items() = rpc_item("wrong", "math", "<think>hmm</think> \\boxed{5}", "4");
  *request.add_items() = rpc_item("typo", "maths", "x", "4");
  *request.add_items() = rpc_item("noref", "math", "<think>.</think>\\boxed{4}", "");
  reward::ScoreResponse out;
  ASSERT_TRUE(score(*stub, request, &out).ok());
  ASSERT_EQ(out.scores_size(), 4);
  const auto& good = out.scores(0);
  EXPECT_EQ(good.id(), "good");
  EXPECT_EQ(good.error(), "");
  EXPECT_EQ(good.signals().at("rule"), 1.0);
  EXPECT_EQ(good.signals().at("format"), 1.0);
  EXPECT_EQ(good.signals().at("length"), 0.0);
  EXPECT_DOUBLE_EQ(good.total(), 1.1);
  EXPECT_EQ(out.scores(1).signals().at("rule"), 0.0);
  EXPECT_NE(out.scores(2).error().find("unknown task_type 'maths'"), std::string::npos) << out.scores(2).error();
  EXPECT_NE(out.scores(3).error().find("needs a reference_answer"), std::string::npos) << out.scores(3).error();
  // Malformed batches: INVALID_ARGUMENT, and the service keeps serving.
  reward::ScoreResponse none;
  grpc::Status empty = score(*stub, reward::ScoreRequest(), &none);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(empty.error_message().find("items is empty"), std::string::npos);
  reward::ScoreRequest twice;
  *twice.add_items() = rpc_item("x", "math", "1", "1");
  *twice.add_items() = rpc_item("x", "math", "2", "2");
  EXPECT_EQ(score(*stub, twice, &none).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  reward::ScoreRequest big;
  *big.add_items() = rpc_item("big", "math", std::string(2 << 20, 'a'), "1");
  reward::ScoreResponse big_out;
  ASSERT_TRUE(score(*stub, big, &big_out).ok());
  EXPECT_NE(big_out.scores(0).error().find("above max_text_bytes"), std::string::npos);
  grpc::ClientContext context;
  prepare_call(context, 5);
  reward::RewardStatus status;
  ASSERT_TRUE(stub->GetStatus(&context, reward::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.items_scored(), 5u);
  EXPECT_EQ(status.items_failed(), 3u);
  EXPECT_GE(status.task_types_size(), 4);
  EXPECT_EQ(service.stop(SIGINT), 0) << service.log();
}

TEST(RewardService, ScoresAFileOffline) {
  const auto dir = std::filesystem::temp_directory_path() / ("dsrl_reward_offline_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in.jsonl") << R"({"id": "1", "task_type": "arithmetic", "response": "The answer is 12", "reference_answer": "12"})"
                                  << "\n";
  auto r = testing::run_process(DSRL_REWARD_BIN, {"score", "--config", DSRL_SOURCE_DIR "/configs/reward.yaml", "--in",
                                                  (dir / "in.jsonl").string(), "--out", (dir / "out.jsonl").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir / "out.jsonl");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, R"({"id":"1","signals":{"rule":1.0},"total":1.0})");
  r = testing::run_process(DSRL_REWARD_BIN, {"score", "--config", DSRL_SOURCE_DIR "/configs/reward.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("score needs --in FILE and --out FILE"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

TEST(RewardService, BadConfigFileNamesFileLineAndKey) {
  const std::string path = (std::filesystem::temp_directory_path() / "dsrl_bad_reward.yaml").string();
  std::ofstream(path) << "server:\n  host: 127.0.0.1\n  prot: 5000\n";
  auto r = testing::run_process(DSRL_REWARD_BIN, {"--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(path + ":3: unknown key server.prot"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

// configs/*.yaml are binaries' configs; model configs (configs/model/) are checked by dsrl-model's tests.
TEST(Configs, EveryShippedConfigParses) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DSRL_SOURCE_DIR "/configs")) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".yaml") continue;
    const std::string binary = name.rfind("rollout", 0) == 0 ? DSRL_ROLLOUT_BIN
                               : name.rfind("reward", 0) == 0 ? DSRL_REWARD_BIN
                                                              : DSRL_TRAIN_BIN;
    auto r = testing::run_process(binary, {"--config", entry.path().string(), "--print-config"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

}  // namespace
}  // namespace dsrl
