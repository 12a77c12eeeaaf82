#include "common/server_config.h"

#include "common/config.h"

namespace dsrl {

void describe(ConfigIO& io, ServerConfig& c) {
  io.field("host", c.host);
  io.field("port", c.port, 0, 65535);
  io.field("port_file", c.port_file);
  io.field("max_message_mb", c.max_message_mb, 1, 2047);
  io.field("shutdown_grace_s", c.shutdown_grace_s, 0.0, 3600.0);
  if (io.reading() && c.host.empty()) io.fail("host", "must not be empty (use 127.0.0.1 for loopback)");
}

}  // namespace dsrl
