#include "common/server_config.h"

#include "common/config.h"

namespace dsrl {

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

void describe(ConfigIO& io, ServerConfig& c) {
  io.field("host", c.host);
  io.field("port", c.port, 0, 65535);
  io.field("port_file", c.port_file);
  io.field("max_message_mb", c.max_message_mb, 1, 2047);
  io.field("shutdown_grace_s", c.shutdown_grace_s, 0.0, 3600.0);
  io.field("token_file", c.token_file);
  io.field("tls_cert_file", c.tls_cert_file);
  io.field("tls_key_file", c.tls_key_file);
  if (!io.reading()) return;
  if (c.host.empty()) io.fail("host", "must not be empty (use 127.0.0.1 for loopback)");
  if (c.tls_cert_file.empty() != c.tls_key_file.empty())
    io.fail(c.tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file",
            "TLS needs both tls_cert_file and tls_key_file, got only one");
  if (!is_loopback_host(c.host) && c.token_file.empty() && c.tls_cert_file.empty())
    io.fail("host", "listening on " + c.host + " (not loopback) needs token_file (a shared secret) or "
                    "tls_cert_file + tls_key_file; use 127.0.0.1 to stay on this machine");
}

void describe(ConfigIO& io, ClientAuthConfig& c) {
  io.field("token_file", c.token_file);
  io.field("tls_ca_file", c.tls_ca_file);
}

}  // namespace dsrl
