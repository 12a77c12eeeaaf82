// Where a service listens: the `server:` YAML section of dsrl-rollout and dsrl-reward. Plain (no gRPC) so that
// torch code may hold it; proto/server.h serves it.
#pragma once

#include <string>

namespace dsrl {

class ConfigIO;

struct ServerConfig {
  std::string host = "127.0.0.1";  // address to bind; loopback unless you mean to expose the service
  int port = 0;                    // TCP port; 0 picks a free one and logs it
  std::string port_file;           // once listening, write the bound port here (for launch scripts); empty: no
  int max_message_mb = 512;        // largest request/response in MiB (Generate replies carry traces)
  double shutdown_grace_s = 5;     // on SIGINT/SIGTERM, calls in flight get this long to finish, in seconds
};
void describe(ConfigIO& io, ServerConfig& c);

}  // namespace dsrl
