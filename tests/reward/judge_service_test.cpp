// dsrl-reward with a judge, as real processes over gRPC: the judge is a scripted Rollout server in this test
// (byte-token replies chosen by the prompt), so each outcome is certain: a good score, a malformed reply, a judge
// too slow for the deadline, a judge that is down, and fail_batch. The service stays up through all of them.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "proto/reward.grpc.pb.h"
#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"
#include "tests/reward/rpc_helpers.h"
#include "tests/services/process.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;

// A judge worker: the reply to a prompt depends on a word in it; records the batch size of every call.
class ScriptedJudgeServer final : public rollout::Rollout::Service {
 public:
  ScriptedJudgeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~ScriptedJudgeServer() override { server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2)); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<int> batch_sizes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return sizes_;
  }

  grpc::Status Generate(grpc::ServerContext*, const rollout::GenerateRequest* request,
                        rollout::GenerateResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_.push_back(request->prompts_size());
    }
    for (const auto& p : request->prompts()) {
      std::string text;
      for (int id : p.token_ids()) text += id < 256 ? static_cast<char>(id) : '?';  // byte tokenizer
      if (text.find("SLOW") != std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      const std::string reply = text.find("GOOD") != std::string::npos   ? "Clear and right. \\boxed{9}"
                                : text.find("MEH") != std::string::npos  ? "Some gaps. \\boxed{4}"
                                                                         : "I cannot decide.";
      rollout::Sample* s = response->add_samples();
      s->set_prompt_id(p.id());
      for (unsigned char c : reply) s->add_token_ids(c);
      s->set_finish_reason(rollout::FINISH_STOP_TOKEN);
    }
    return grpc::Status::OK;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mutex_;
  std::vector<int> sizes_;
};

std::string write_config(const std::string& name, const std::string& endpoint, const std::string& on_failure,
                         int max_new_tokens = 1024) {
  const auto path = std::filesystem::temp_directory_path() / (name + std::to_string(getpid()) + ".yaml");
  std::ofstream(path) << "task_types:\n"
                         "  chat: {weights: {judge: 1.0}}\n"
                         "  arithmetic: {weights: {rule: 1.0}}\n"
                         "judge:\n"
                         "  endpoint: " << endpoint << "\n"
                         "  tokenizer: byte\n"
                         "  prompt: 'Grade: {response}'\n"
                         "  batch_size: 2\n"
                         "  concurrency: 2\n"
                         "  timeout_s: 0.5\n"
                         "  retries: 1\n"
                         "  backoff_s: 0.05\n"
                         "  max_new_tokens: " << max_new_tokens << "\n"
                         "  on_failure: " << on_failure << "\n";
  return path.string();
}

using testing::rpc_item;

grpc::Status score(reward::Reward::Stub& stub, const std::vector<reward::RewardItem>& items,
                   reward::ScoreResponse* out) {
  reward::ScoreRequest request;
  for (const auto& i : items) *request.add_items() = i;
  grpc::ClientContext context;
  prepare_call(context, 30);
  return stub.Score(&context, request, out);
}

TEST(RewardJudge, GoodMalformedSlowAndDownJudgesOverGrpc) {
  ScriptedJudgeServer judge;
  const std::string config = write_config("dsrl_judge_", judge.address(), "drop");
  ServiceProcess service(DSRL_REWARD_BIN, {"--config", config});
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  reward::ScoreResponse out;
  ASSERT_TRUE(score(*stub, {rpc_item("good", "chat", "GOOD"), rpc_item("meh", "chat", "MEH"),
                            rpc_item("malformed", "chat", "other"), rpc_item("rule", "arithmetic", "12", "12")}, &out).ok());
  ASSERT_EQ(out.scores_size(), 4);
  EXPECT_EQ(out.scores(0).error(), "");
  EXPECT_DOUBLE_EQ(out.scores(0).signals().at("judge"), 0.9);
  EXPECT_DOUBLE_EQ(out.scores(1).total(), 0.4);
  EXPECT_NE(out.scores(2).error().find("signal judge: judge reply has no \\boxed{score}: 'I cannot decide.'"),
            std::string::npos) << out.scores(2).error();
  EXPECT_EQ(out.scores(2).signals_size(), 0) << "an unparsable judgement is an error, not a 0";
  EXPECT_EQ(out.scores(3).signals().at("rule"), 1.0);
  std::vector<int> sizes = judge.batch_sizes();
  std::sort(sizes.begin(), sizes.end());  // the two calls run concurrently
  EXPECT_EQ(sizes, (std::vector<int>{1, 2})) << "3 judge prompts in calls of judge.batch_size 2";
  // Too slow for the 0.5 s deadline, twice (one retry): that item's error; the batch still answers.
  ASSERT_TRUE(score(*stub, {rpc_item("slow", "chat", "SLOW GOOD")}, &out).ok());
  EXPECT_NE(out.scores(0).error().find("failed after 2 attempts: DEADLINE_EXCEEDED"), std::string::npos)
      << out.scores(0).error();
  grpc::ClientContext context;
  prepare_call(context, 5);
  reward::RewardStatus status;
  ASSERT_TRUE(stub->GetStatus(&context, reward::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.judgements(), 4u);
  EXPECT_EQ(status.judgements_failed(), 2u);
  EXPECT_EQ(status.items_scored(), 5u);
  EXPECT_GT(status.items_per_second(), 0);
  EXPECT_EQ(service.stop(SIGINT), 0) << service.log();
  std::filesystem::remove(config);
}

TEST(RewardJudge, JudgeDownGivesItemErrorsOrUnavailableAndTheServiceStaysUp) {
  int dead_port = 0;
  {  // a port that was just free: nothing listens there now
    ScriptedJudgeServer gone;
    dead_port = std::stoi(gone.address().substr(gone.address().rfind(':') + 1));
  }
  const std::string endpoint = "127.0.0.1:" + std::to_string(dead_port);
  const std::string drop = write_config("dsrl_judge_down_", endpoint, "drop");
  ServiceProcess service(DSRL_REWARD_BIN, {"--config", drop});
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  reward::ScoreResponse out;
  ASSERT_TRUE(score(*stub, {rpc_item("a", "chat", "GOOD"), rpc_item("b", "arithmetic", "3", "3")}, &out).ok());
  EXPECT_NE(out.scores(0).error().find("judge at " + endpoint + " failed after 2 attempts: UNAVAILABLE"),
            std::string::npos) << out.scores(0).error();
  EXPECT_EQ(out.scores(1).error(), "") << "items without a judge signal are scored";
  const std::string strict = write_config("dsrl_judge_strict_", endpoint, "fail_batch");
  ServiceProcess strict_service(DSRL_REWARD_BIN, {"--config", strict});
  auto strict_stub =
      reward::Reward::NewStub(grpc::CreateChannel(strict_service.address(), grpc::InsecureChannelCredentials()));
  grpc::Status failed = score(*strict_stub, {rpc_item("a", "chat", "GOOD"), rpc_item("b", "arithmetic", "3", "3")}, &out);
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(failed.error_message().find("could not be judged (judge.on_failure: fail_batch)"), std::string::npos)
      << failed.error_message();
  ASSERT_TRUE(score(*strict_stub, {rpc_item("b", "arithmetic", "3", "3")}, &out).ok()) << "still serving";
  EXPECT_EQ(out.scores(0).signals().at("rule"), 1.0);
  EXPECT_EQ(service.stop(SIGINT), 0) << service.log();
  EXPECT_EQ(strict_service.stop(SIGINT), 0) << strict_service.log();
  std::filesystem::remove(drop);
  std::filesystem::remove(strict);
}

// The real pieces together: dsrl-reward asks a dsrl-rollout worker serving the tiny random model. Its replies are
// noise, so the judgement is an item error naming the missing \boxed{}; the prompt went through the byte
// tokenizer, Generate and back.
TEST(RewardJudge, RealRolloutWorkerAsJudge) {
  ServiceProcess worker(DSRL_ROLLOUT_BIN, {"--config", DSRL_SOURCE_DIR "/configs/rollout.yaml", "--set",
                                           "model.config=" DSRL_SOURCE_DIR "/configs/model/tiny.yaml"});
  const std::string config = write_config("dsrl_judge_real_", worker.address(), "drop", 8);
  ServiceProcess service(DSRL_REWARD_BIN, {"--config", config});
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  reward::ScoreResponse out;
  ASSERT_TRUE(score(*stub, {rpc_item("a", "chat", "an answer"), rpc_item("b", "chat", "another")}, &out).ok());
  for (const auto& s : out.scores())
    EXPECT_NE(s.error().find("signal judge: judge reply has no \\boxed{score}"), std::string::npos) << s.error();
  EXPECT_EQ(service.stop(SIGINT), 0) << service.log();
  EXPECT_EQ(worker.stop(SIGINT), 0) << worker.log();
  std::filesystem::remove(config);
}

}  // namespace
}  // namespace dsrl
