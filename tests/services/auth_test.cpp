// Who may call a service: the shared-secret token (every call, UpdateWeights included), TLS, and the refusal to
// listen beyond loopback with neither. dsrl-reward runs as a real process; the client side is proto/server.h's.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "proto/reward.grpc.pb.h"
#include "proto/server.h"
#include "tests/reward/rpc_helpers.h"
#include "tests/services/process.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;

constexpr const char* kSecret = "s3cret-token-4b1d";

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("dsrl_auth_" + std::to_string(getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

std::vector<std::string> reward_args(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--config", DSRL_SOURCE_DIR "/configs/reward.yaml"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

grpc::Status score_one(reward::Reward::Stub& stub, const char* token) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (token) context.AddMetadata(kTokenMetadataKey, token);
  reward::ScoreRequest request;
  *request.add_items() = testing::rpc_item("a", "math", "\\boxed{4}", "4");
  reward::ScoreResponse response;
  return stub.Score(&context, request, &response);
}

TEST(ServiceAuth, WithATokenEveryCallMustCarryIt) {
  TempDir dir;
  const std::string token_file = dir.write("token", std::string(kSecret) + "\n");
  ServiceProcess service(DSRL_REWARD_BIN, reward_args({"--set", "server.token_file=" + token_file}));
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  grpc::Status none = score_one(*stub, nullptr);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(none.error_message().find("needs a token"), std::string::npos) << none.error_message();
  grpc::Status wrong = score_one(*stub, "s3cret-token-4b1e");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.error_message().find(kSecret), std::string::npos);
  EXPECT_EQ(score_one(*stub, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(score_one(*stub, kSecret).ok()) << "the right token passes, and the service kept serving";
  grpc::ClientContext context;  // GetStatus is guarded too
  prepare_call(context, 5);
  reward::RewardStatus status;
  EXPECT_EQ(stub->GetStatus(&context, reward::GetStatusRequest(), &status).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service.stop(SIGINT), 0);
  EXPECT_EQ(service.log().find(kSecret), std::string::npos) << "the secret must never be logged";
  EXPECT_NE(service.log().find("every call needs the shared token"), std::string::npos) << service.log();
}

TEST(ServiceAuth, BeyondLoopbackNeedsATokenOrTls) {
  auto r = testing::run_process(DSRL_REWARD_BIN, reward_args({"--set", "server.host=0.0.0.0"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("server.host listening on 0.0.0.0 (not loopback) needs token_file"), std::string::npos)
      << r.err;
  r = testing::run_process(DSRL_REWARD_BIN, reward_args({"--set", "server.tls_cert_file=/x.pem"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs both tls_cert_file and tls_key_file"), std::string::npos) << r.err;
  r = testing::run_process(DSRL_REWARD_BIN, reward_args({"--set", "server.token_file=/nonexistent/token"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("server.token_file: cannot read /nonexistent/token"), std::string::npos) << r.err;
  TempDir dir;
  const std::string token_file = dir.write("token", kSecret);
  ServiceProcess open(DSRL_REWARD_BIN,
                      reward_args({"--set", "server.host=0.0.0.0", "--set", "server.token_file=" + token_file}));
  auto stub = reward::Reward::NewStub(grpc::CreateChannel(open.address(), grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(score_one(*stub, kSecret).ok());
  EXPECT_EQ(score_one(*stub, nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(open.stop(SIGINT), 0);
}

// A self-signed certificate for 127.0.0.1 made with the openssl tool; "" when it is not installed.
std::string make_certificate(const TempDir& dir) {
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                          "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
                          (dir.path / "key.pem").string() + " -out " + (dir.path / "cert.pem").string() +
                          " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 ? (dir.path / "cert.pem").string() : "";
}

TEST(ServiceAuth, TlsWithTokenThroughTheClientHelpers) {
  TempDir dir;
  const std::string cert = make_certificate(dir);
  ASSERT_FALSE(cert.empty()) << "openssl could not make a test certificate (scripts/install-deps.sh installs it)";
  const std::string token_file = dir.write("token", kSecret);
  ServiceProcess service(DSRL_REWARD_BIN, reward_args({"--set", "server.tls_cert_file=" + cert, "--set",
                                                       "server.tls_key_file=" + (dir.path / "key.pem").string(),
                                                       "--set", "server.token_file=" + token_file}));
  // Plaintext cannot talk to it.
  auto plain = reward::Reward::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(score_one(*plain, kSecret).error_code(), grpc::StatusCode::UNAVAILABLE);
  // The process-wide client side: TLS root and token from files, as dsrl-train and dsrl-reward use them.
  struct Reset {
    ~Reset() { set_client_auth(ClientAuthConfig()); }  // other tests in this process talk plaintext
  } reset;
  set_client_auth(ClientAuthConfig{token_file, cert});
  auto stub = reward::Reward::NewStub(make_channel(service.address()));
  grpc::ClientContext context;
  prepare_call(context, 10);
  reward::RewardStatus status;
  grpc::Status ok = stub->GetStatus(&context, reward::GetStatusRequest(), &status);
  EXPECT_TRUE(ok.ok()) << describe_status(ok);
  EXPECT_EQ(score_one(*stub, nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED) << "TLS alone is not the token";
  EXPECT_THROW(set_client_auth(ClientAuthConfig{(dir.path / "missing").string(), ""}), std::exception);
  EXPECT_EQ(service.stop(SIGINT), 0);
}

}  // namespace
}  // namespace dsrl
