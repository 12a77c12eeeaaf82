// dsrl-rollout as a real process: listens on 127.0.0.1 (port 0), answers GetStatus, refuses what it cannot do
// yet with UNIMPLEMENTED, exits cleanly on SIGINT/SIGTERM, and exits 2 on a bad config.
#include <gtest/gtest.h>
#include <signal.h>

#include "proto/rollout.grpc.pb.h"
#include "proto/server.h"
#include "tests/services/process.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;

std::unique_ptr<rollout::Rollout::Stub> connect(const ServiceProcess& service) {
  return rollout::Rollout::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
}

TEST(RolloutService, AnswersStatusAndStopsOnSigterm) {
  ServiceProcess service(DSRL_ROLLOUT_BIN, {});
  EXPECT_NE(service.log().find("dsrl-rollout listening on 127.0.0.1:" + std::to_string(service.port())),
            std::string::npos)
      << service.log();
  auto stub = connect(service);
  grpc::ClientContext context;
  set_deadline(context, 5);
  rollout::RolloutStatus status;
  ASSERT_TRUE(stub->GetStatus(&context, rollout::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.policy_version(), 0u);
  EXPECT_EQ(service.stop(SIGTERM), 0) << service.log();
  EXPECT_NE(service.log().find("dsrl-rollout stopped"), std::string::npos) << service.log();
}

TEST(RolloutService, GenerateAndUpdateWeightsSayUnimplementedAndServiceStaysUp) {
  ServiceProcess service(DSRL_ROLLOUT_BIN, {"--set", "log.level=debug"});
  auto stub = connect(service);
  {
    grpc::ClientContext context;
    set_deadline(context, 5);
    rollout::GenerateRequest request;
    rollout::GenerateResponse response;
    grpc::Status status = stub->Generate(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_NE(status.error_message().find("issue 5"), std::string::npos);
  }
  {
    grpc::ClientContext context;
    set_deadline(context, 5);
    rollout::UpdateWeightsResponse response;
    auto writer = stub->UpdateWeights(&context, &response);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  grpc::ClientContext context;
  set_deadline(context, 5);
  rollout::RolloutStatus status;
  EXPECT_TRUE(stub->GetStatus(&context, rollout::GetStatusRequest(), &status).ok());
  EXPECT_EQ(service.stop(SIGINT), 0);
  EXPECT_NE(service.log().find("resolved config:"), std::string::npos) << "debug level prints the config";
}

TEST(RolloutService, BadConfigExitsTwoWithOneLine) {
  auto r = testing::run_process(DSRL_ROLLOUT_BIN, {"--set", "server.port=-5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "dsrl-rollout: --set server.port: server.port must be in [0, 65535], got -5\n");
  r = testing::run_process(DSRL_ROLLOUT_BIN, {"--config", "/nonexistent.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot read config file /nonexistent.yaml"), std::string::npos) << r.err;
  r = testing::run_process(DSRL_ROLLOUT_BIN, {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--config FILE"), std::string::npos);
}

}  // namespace
}  // namespace dsrl
