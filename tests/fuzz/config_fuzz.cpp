// libFuzzer target: a YAML config file as users write them, parsed into the reward service's config (sections,
// maps, lists, ranges, choices, cross-field checks). The first line is applied as a --set override. Bad input
// must give dsrl::Error (ConfigError: key, file and line), never a crash or another exception.
#include <string>

#include "common/cli.h"
#include "reward/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string& path = dsrl::fuzz::scratch_file("config.yaml");
  const std::string body = newline == std::string::npos ? "" : input.substr(newline + 1);
  dsrl::fuzz::write_file(path, reinterpret_cast<const uint8_t*>(body.data()), body.size());
  dsrl::CommandLine cli;
  cli.program = "dsrl-fuzz";
  cli.config_file = path;
  if (newline != 0) cli.sets.push_back(input.substr(0, newline));
  dsrl::fuzz::refusing_is_fine([&] { dsrl::load_config<dsrl::RewardServiceConfig>(cli); });
  return 0;
}
