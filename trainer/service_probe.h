// Asks dsrl-rollout / dsrl-reward endpoints for GetStatus. Torch-free (it includes the generated gRPC code).
#pragma once

#include <string>

#include "common/server_config.h"

namespace dsrl {

// The token and TLS root every gRPC call of this process uses (proto/server.h set_client_auth), for torch code
// that cannot include gRPC. Throws dsrl::Error naming a file that cannot be read.
void use_client_auth(const ClientAuthConfig& config);

struct EndpointProbe {
  std::string endpoint;   // host:port
  std::string service;    // "rollout" or "reward"
  bool ok = false;        // answered GetStatus within the deadline
  std::string detail;     // what it reported, or the gRPC code and message
  double latency_ms = 0;  // round trip of the GetStatus call
};

EndpointProbe probe_rollout(const std::string& endpoint, double deadline_s);
EndpointProbe probe_reward(const std::string& endpoint, double deadline_s);

}  // namespace dsrl
