// dsrl-reward as a real process, and every shipped service config parses with its binary.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "proto/reward.grpc.pb.h"
#include "proto/server.h"
#include "tests/services/process.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;

TEST(RewardService, AnswersStatusRefusesScoreAndStopsOnSigint) {
  ServiceProcess service(DSRL_REWARD_BIN, {});
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    set_deadline(context, 5);
    reward::ScoreResponse response;
    grpc::Status status = stub->Score(&context, reward::ScoreRequest(), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  grpc::ClientContext context;
  set_deadline(context, 5);
  reward::RewardStatus status;
  ASSERT_TRUE(stub->GetStatus(&context, reward::GetStatusRequest(), &status).ok());
  EXPECT_EQ(service.stop(SIGINT), 0) << service.log();
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
