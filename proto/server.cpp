#include "proto/server.h"

#include <chrono>
#include <fstream>

#include "common/error.h"
#include "common/log.h"
#include "common/signals.h"

namespace dsrl {

int serve_until_signal(const ServerConfig& config, const std::vector<grpc::Service*>& services,
                       const std::string& name) {
  auto log = logger("server");
  const std::string address = config.host + ":" + std::to_string(config.port);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(config.max_message_mb << 20);
  builder.SetMaxSendMessageSize(config.max_message_mb << 20);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  DSRL_CHECK(server && bound_port > 0, "{} could not listen on {} (address in use or not assignable?)", name,
             address);
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

std::shared_ptr<grpc::Channel> make_channel(const std::string& endpoint) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
}

void set_deadline(grpc::ClientContext& context, double seconds) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::microseconds(static_cast<long long>(seconds * 1e6)));
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
