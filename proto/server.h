// The gRPC glue every dsrl service shares: where to listen, start, log the port, stop on SIGINT/SIGTERM.
// Torch-free: service implementations convert messages to plain structs before calling torch code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/server_config.h"

namespace dsrl {

// Starts a server for `services` (the caller owns them), logs "<name> listening on host:port", writes
// port_file, and serves until SIGINT or SIGTERM (block_shutdown_signals() must have run at the top of main).
// Returns 0 after a clean shutdown; throws dsrl::Error if it cannot listen.
int serve_until_signal(const ServerConfig& config, const std::vector<grpc::Service*>& services,
                       const std::string& name);

// Client side: a channel to host:port with no cap on reply size (Generate replies carry sampling masks and routing
// traces: hundreds of MB for a GRPO step; gRPC's default cap is 4 MB). The server's max_message_mb still applies.
std::shared_ptr<grpc::Channel> make_channel(const std::string& endpoint);

// Client side: a context whose deadline is `seconds` from now.
void set_deadline(grpc::ClientContext& context, double seconds);

// "UNAVAILABLE: failed to connect to all addresses" for logs and errors.
std::string describe_status(const grpc::Status& status);

}  // namespace dsrl
