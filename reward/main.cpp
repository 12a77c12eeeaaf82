// dsrl-reward: serves Score and GetStatus (proto/reward.proto), or scores a file offline:
//   dsrl-reward --config configs/reward.yaml
//   dsrl-reward score --config configs/reward.yaml --in items.jsonl --out scores.jsonl
#include <cstring>
#include <memory>

#include "common/cli.h"
#include "common/signals.h"
#include "proto/server.h"
#include "reward/config.h"
#include "reward/judge_client.h"
#include "reward/offline.h"
#include "reward/service.h"

namespace {

// Takes "score", --in and --out off the command line (they are not config flags).
bool take_offline_args(int& argc, char** argv, std::string* in, std::string* out) {
  if (argc < 2 || std::strcmp(argv[1], "score") != 0) return false;
  int kept = 1;
  for (int i = 2; i < argc; ++i) {
    if ((!std::strcmp(argv[i], "--in") || !std::strcmp(argv[i], "--out")) && i + 1 < argc) {
      (!std::strcmp(argv[i], "--in") ? *in : *out) = argv[i + 1];
      ++i;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string in, out;
  const bool offline = take_offline_args(argc, argv, &in, &out);
  if (!offline) dsrl::block_shutdown_signals();
  return dsrl::run_main<dsrl::RewardServiceConfig>(
      argc, argv,
      "dsrl-reward: the reward service (rule, format, length, language and judge signals); "
      "`dsrl-reward score --config C --in items.jsonl --out scores.jsonl` scores a file",
      [&](const dsrl::RewardServiceConfig& config, const dsrl::CommandLine&) {
        dsrl::set_client_auth(config.client_auth);  // for the judge's rollout worker
        std::unique_ptr<dsrl::RolloutJudge> judge;
        if (!config.judge.endpoint.empty()) judge = std::make_unique<dsrl::RolloutJudge>(config.judge);
        dsrl::Scorer scorer(config, judge.get());
        if (offline) {
          if (in.empty() || out.empty()) throw dsrl::ConfigError("score needs --in FILE and --out FILE");
          dsrl::score_file(scorer, in, out);  // failed items carry their error in the output
          return 0;
        }
        dsrl::RewardService service(scorer, dsrl::CallAuth::from_config(config.server));
        return dsrl::serve_until_signal(config.server, {&service}, "dsrl-reward");
      });
}
