// dsrl-reward as a real process (Score over gRPC, offline scoring of a file), and every shipped service config
// parses with its binary.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "proto/reward.grpc.pb.h"
#include "proto/server.h"
#include "tests/reward/rpc_helpers.h"
#include "tests/services/field_sweep.h"
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

// A batch with every field of an item set: a math item, a code item with its repository, a Chinese item.
reward::ScoreRequest every_field_request() {
  reward::ScoreRequest request;
  reward::RewardItem* math = request.add_items();
  *math = rpc_item("m", "math", "<think>2+2=4</think> The answer is \\boxed{4}.", "4");
  math->set_prompt("What is 2+2?");
  math->set_rubric("exact");
  math->set_target_language("en");
  math->set_response_tokens(100);
  math->set_length_budget(200);
  (*math->mutable_files())["notes.txt"] = "scratch";
  reward::RewardItem* code = request.add_items();
  *code = rpc_item("c", "code", "done",
                   "import unittest\nfrom sol import add\nclass T(unittest.TestCase):\n"
                   "    def test(self):\n        self.assertEqual(add(1, 2), 3)\n");
  (*code->mutable_files())["sol.py"] = "def add(a, b):\n    return a + b\n";
  *request.add_items() = rpc_item("z", "zh_reasoning", "<think>二加二等于四</think> 答案是 \\boxed{4}", "4");
  request.mutable_items(2)->set_target_language("zh");
  return request;
}

TEST(RewardService, EveryScoreFieldSweptGetsScoresOrAClearRefusal) {
  ServiceProcess service(DSRL_REWARD_BIN, {"--config", DSRL_SOURCE_DIR "/configs/reward.yaml"});
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  const reward::ScoreRequest valid = every_field_request();
  reward::ScoreResponse clean;
  ASSERT_TRUE(score(*stub, valid, &clean).ok());
  for (const auto& s : clean.scores()) EXPECT_EQ(s.error(), "") << s.id() << " should score cleanly";
  int swept = 0, refused = 0, item_errors = 0;
  for (const auto& v : testing::field_variants(valid)) {
    const auto& r = static_cast<const reward::ScoreRequest&>(*v.message);
    reward::ScoreResponse out;
    grpc::Status s = score(*stub, r, &out);
    ++swept;
    EXPECT_TRUE(s.ok() || s.error_code() == grpc::INVALID_ARGUMENT)
        << v.change << ": code " << s.error_code() << ", " << s.error_message();
    if (!s.ok()) {
      ++refused;
      EXPECT_FALSE(s.error_message().empty()) << v.change;
      EXPECT_LE(s.error_message().size(), 1100u) << v.change;
      continue;
    }
    ASSERT_EQ(out.scores_size(), r.items_size()) << v.change;
    for (int i = 0; i < out.scores_size(); ++i) {
      const auto& score = out.scores(i);
      EXPECT_EQ(score.id(), r.items(i).id()) << v.change;
      EXPECT_TRUE(std::isfinite(score.total())) << v.change << ": total " << score.total();
      if (!score.error().empty()) ++item_errors;
    }
  }
  std::cout << "Score: " << swept << " variants, " << refused << " refused, " << item_errors << " item errors"
            << std::endl;
  EXPECT_GE(swept, 30);
  EXPECT_GE(refused, 2);      // no items, 1001 items with one id
  EXPECT_GE(item_errors, 5);  // unknown task types, texts above max_text_bytes, ...
  reward::ScoreResponse again;
  ASSERT_TRUE(score(*stub, valid, &again).ok()) << "still serving";
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(again, clean)) << "and scoring as before";
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
