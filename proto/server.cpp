#include "proto/server.h"

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/error.h"
#include "common/log.h"
#include "common/signals.h"
#include "common/utf8.h"

namespace dsrl {

namespace {

// Constant-time equality: the time taken depends on the lengths only, never on where the strings differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const ServerConfig& config) {
  if (config.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({read_secret_file(config.tls_key_file, "server.tls_key_file"),
                                        read_secret_file(config.tls_cert_file, "server.tls_cert_file")});
  return grpc::SslServerCredentials(options);
}

struct ClientAuth {
  std::mutex mutex;
  std::string token;
  std::string root_pem;
};
ClientAuth& client_auth() {
  static ClientAuth auth;
  return auth;
}

}  // namespace

std::string read_secret_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  DSRL_CHECK(in.good(), "{}: cannot read {}", what, path);
  std::ostringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  DSRL_CHECK(!text.empty(), "{}: {} is empty", what, path);
  return text;
}

std::string read_token_file(const std::string& path, const std::string& what) {
  std::string token = read_secret_file(path, what);
  token.erase(token.find_last_not_of(" \t\r\n") + 1);
  DSRL_CHECK(!token.empty(), "{}: {} holds only whitespace", what, path);
  return token;
}

CallAuth CallAuth::from_config(const ServerConfig& config) {
  return config.token_file.empty() ? CallAuth() : CallAuth(read_token_file(config.token_file, "server.token_file"));
}

grpc::Status CallAuth::check(const grpc::ServerContext* context) const {
  if (token_.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kTokenMetadataKey);
  if (it == metadata.end())
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "this service needs a token (client_auth.token_file)");
  if (!same_secret(std::string(it->second.data(), it->second.size()), token_))
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong token");
  return grpc::Status::OK;
}

int serve_until_signal(const ServerConfig& config, const std::vector<grpc::Service*>& services,
                       const std::string& name) {
  auto log = logger("server");
  const std::string address = config.host + ":" + std::to_string(config.port);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(address, server_credentials(config), &bound_port);
  builder.SetMaxReceiveMessageSize(config.max_message_mb << 20);
  builder.SetMaxSendMessageSize(config.max_message_mb << 20);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  DSRL_CHECK(server && bound_port > 0, "{} could not listen on {} (address in use or not assignable?)", name,
             address);
  log->info("{}: {}, {}", name, config.tls_cert_file.empty() ? "plaintext" : "TLS",
            config.token_file.empty() ? "no token" : "every call needs the shared token");
  log->info("{} listening on {}:{}", name, config.host, bound_port);
  if (!config.port_file.empty()) {
    std::ofstream(config.port_file) << bound_port << "\n";
  }
  const int signal = wait_for_shutdown_signal();
  log->info("{} got signal {}, shutting down (grace {} s)", name, signal, config.shutdown_grace_s);
  const auto grace = std::chrono::milliseconds(static_cast<long>(config.shutdown_grace_s * 1000));
  server->Shutdown(std::chrono::system_clock::now() + grace);
  server->Wait();
  log->info("{} stopped", name);
  return 0;
}

void set_client_auth(const ClientAuthConfig& config) {
  std::string token, root;
  if (!config.token_file.empty()) token = read_token_file(config.token_file, "client_auth.token_file");
  if (!config.tls_ca_file.empty()) root = read_secret_file(config.tls_ca_file, "client_auth.tls_ca_file");
  ClientAuth& auth = client_auth();
  std::lock_guard<std::mutex> lock(auth.mutex);
  auth.token = std::move(token);
  auth.root_pem = std::move(root);
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& endpoint) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Reconnect within a second of a restarted service: gRPC's default backoff (1 s growing to 120 s) made calls fail
  // fast for minutes after a service came back, past the callers' own retries (tests/trainer/faults_test.cpp).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  ClientAuth& auth = client_auth();
  std::lock_guard<std::mutex> lock(auth.mutex);
  if (!auth.root_pem.empty()) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = auth.root_pem;
    credentials = grpc::SslCredentials(options);
  }
  return grpc::CreateCustomChannel(endpoint, credentials, args);
}

void prepare_call(grpc::ClientContext& context, double seconds) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::microseconds(static_cast<long long>(seconds * 1e6)));
  ClientAuth& auth = client_auth();
  std::lock_guard<std::mutex> lock(auth.mutex);
  if (!auth.token.empty()) context.AddMetadata(kTokenMetadataKey, auth.token);
}

grpc::Status refusal(grpc::StatusCode code, const std::string& message) {
  constexpr size_t kMaxBytes = 1024;
  if (message.size() <= kMaxBytes) return grpc::Status(code, message);
  const std::string_view kept = utf8_prefix(message, kMaxBytes);
  return grpc::Status(code, fmt::format("{}... ({} more bytes)", kept, message.size() - kept.size()));
}

std::string describe_status(const grpc::Status& status) {
  static const char* names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  const std::string name = code >= 0 && code < 17 ? names[code] : "CODE_" + std::to_string(code);
  return status.error_message().empty() ? name : name + ": " + status.error_message();
}

}  // namespace dsrl
