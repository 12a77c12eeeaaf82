// dsrl-reward: serves Score and GetStatus (proto/reward.proto).
#include "common/cli.h"
#include "common/signals.h"
#include "proto/server.h"
#include "reward/config.h"
#include "reward/service.h"

int main(int argc, char** argv) {
  dsrl::block_shutdown_signals();
  return dsrl::run_main<dsrl::RewardServiceConfig>(
      argc, argv, "dsrl-reward: the reward service (rule, format, length, language and judge signals)",
      [](const dsrl::RewardServiceConfig& config, const dsrl::CommandLine&) {
        dsrl::RewardService service;
        return dsrl::serve_until_signal(config.server, {&service}, "dsrl-reward");
      });
}
