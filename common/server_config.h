// Where a service listens and who may call it: the `server:` YAML section of dsrl-rollout and dsrl-reward, and the
// `client_auth:` section of the processes that call them. Plain (no gRPC) so that torch code may hold them;
// proto/server.h serves and calls with them.
#pragma once

#include <string>

namespace dsrl {

class ConfigIO;

struct ServerConfig {
  std::string host = "127.0.0.1";  // address to bind; loopback unless you mean to expose the service (then
                                   // token_file or TLS is required)
  int port = 0;                    // TCP port; 0 picks a free one and logs it
  std::string port_file;           // once listening, write the bound port here (for launch scripts); empty: no
  int max_message_mb = 512;        // largest request/response in MiB (Generate replies carry traces)
  double shutdown_grace_s = 5;     // on SIGINT/SIGTERM, calls in flight get this long to finish, in seconds
  std::string token_file;          // file holding a shared secret every call must carry (metadata x-dsrl-token);
                                   // empty: no token. The secret is never logged.
  std::string tls_cert_file;       // PEM certificate (chain) to serve TLS with; empty: plaintext
  std::string tls_key_file;        // PEM private key of tls_cert_file
};
void describe(ConfigIO& io, ServerConfig& c);

// How this process calls dsrl services; the same for every service it calls (one secret per cluster job).
struct ClientAuthConfig {
  std::string token_file;   // the services' server.token_file (same secret); empty: send no token
  std::string tls_ca_file;  // PEM root certificate to verify the services' TLS certificates; empty: plaintext
};
void describe(ConfigIO& io, ClientAuthConfig& c);

// Whether `host` names this machine's loopback interface (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(const std::string& host);

}  // namespace dsrl
