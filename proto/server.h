// The gRPC glue every dsrl service shares: where to listen, who may call (shared-secret token, TLS), start, log the
// port, stop on SIGINT/SIGTERM; and the client side of the same.
// Torch-free: service implementations convert messages to plain structs before calling torch code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/server_config.h"

namespace dsrl {

// Metadata key that carries the shared secret on every call.
inline constexpr const char* kTokenMetadataKey = "x-dsrl-token";

// Reads a secret (or certificate) file whole; for a token, trailing whitespace is dropped. Throws dsrl::Error
// naming `what` and the path when it is missing, unreadable or empty; the contents never appear in errors or logs.
std::string read_secret_file(const std::string& path, const std::string& what);
std::string read_token_file(const std::string& path, const std::string& what);

// The server side of the shared secret: every handler calls check() first. Without a token every call passes.
class CallAuth {
 public:
  CallAuth() = default;
  explicit CallAuth(std::string token) : token_(std::move(token)) {}
  // From server.token_file (empty: no token).
  static CallAuth from_config(const ServerConfig& config);
  // OK, or UNAUTHENTICATED when the call's x-dsrl-token is missing or differs (compared in constant time).
  grpc::Status check(const grpc::ServerContext* context) const;
  bool enabled() const { return !token_.empty(); }

 private:
  std::string token_;
};

// Starts a server for `services` (the caller owns them), logs "<name> listening on host:port" and how calls are
// authenticated, writes port_file, and serves until SIGINT or SIGTERM (block_shutdown_signals() must have run at
// the top of main). TLS when server.tls_cert_file is set. Returns 0 after a clean shutdown; throws dsrl::Error if
// it cannot listen or read its certificate files.
int serve_until_signal(const ServerConfig& config, const std::vector<grpc::Service*>& services,
                       const std::string& name);

// Client side, process-wide: the token sent on every call and the root certificate channels verify servers with.
// Reads the files now (throws dsrl::Error naming a bad one). Call once at start-up, before any channel is made.
void set_client_auth(const ClientAuthConfig& config);

// Client side: a channel to host:port with no cap on reply size (Generate replies carry sampling masks and routing
// traces: hundreds of MB for a GRPO step; gRPC's default cap is 4 MB). The server's max_message_mb still applies.
// TLS when set_client_auth gave a root certificate. After a failed connection it tries again within a second.
std::shared_ptr<grpc::Channel> make_channel(const std::string& endpoint);

// Client side: every call's context goes through here. Its deadline is `seconds` from now, and it carries the token
// set_client_auth read, if any.
void prepare_call(grpc::ClientContext& context, double seconds);

// Server side: a refusal whose message may quote what the client sent (an id, a tensor name). The message is cut to
// 1 KiB at a character boundary, saying how much was left out: gRPC carries it in a trailer, and one above the
// client's metadata limit (8 KiB) would reach it as RESOURCE_EXHAUSTED instead of the refusal.
grpc::Status refusal(grpc::StatusCode code, const std::string& message);

// "UNAVAILABLE: failed to connect to all addresses" for logs and errors.
std::string describe_status(const grpc::Status& status);

}  // namespace dsrl
