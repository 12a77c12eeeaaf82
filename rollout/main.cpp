// dsrl-rollout: serves Generate, UpdateWeights and GetStatus (proto/rollout.proto) from the engine (engine.h).
#include "common/cli.h"
#include "common/signals.h"
#include "proto/server.h"
#include "rollout/config.h"
#include "rollout/engine.h"
#include "rollout/service.h"

int main(int argc, char** argv) {
  dsrl::block_shutdown_signals();
  return dsrl::run_main<dsrl::RolloutServiceConfig>(
      argc, argv, "dsrl-rollout: the rollout worker (generation with recorded sampling masks and routes)",
      [](const dsrl::RolloutServiceConfig& config, const dsrl::CommandLine&) {
        // A bad token file fails before the model loads.
        dsrl::CallAuth auth = dsrl::CallAuth::from_config(config.server);
        std::unique_ptr<dsrl::Engine> engine = dsrl::Engine::create(config);
        dsrl::RolloutService service(*engine, std::move(auth));
        return dsrl::serve_until_signal(config.server, {&service}, "dsrl-rollout");
      });
}
