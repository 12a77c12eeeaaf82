// The command line every dsrl binary shares:
//   dsrl-<name> [--config file.yaml] [--set a.b.c=value ...] [--print-config] [--resume] [--help]
// run_main() turns a bad command line or config into one line on stderr and exit code 2, any other error
// into a logged error and exit code 1.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"

namespace dsrl {

struct CommandLine {
  std::string program;             // argv[0]'s file name
  std::string config_file;         // --config (empty: defaults only)
  std::vector<std::string> sets;   // --set a.b=value, in order
  bool help = false;               // --help / -h
  bool print_config = false;       // --print-config: print the resolved config and exit
  bool resume = false;             // --resume: training stages continue from their newest complete checkpoint
};

// Throws ConfigError on an unknown flag or a flag without its value.
CommandLine parse_command_line(int argc, char** argv);

// The file (if any) with every --set applied; `overridden` receives the keys the --set flags named.
YAML::Node load_config_tree(const CommandLine& cli, std::set<std::string>& overridden);

// The config file's name for messages ("--set" when there is none).
std::string config_source(const CommandLine& cli);

// Parses the config of type T from the command line.
template <class T>
T load_config(const CommandLine& cli) {
  std::set<std::string> overridden;
  YAML::Node tree = load_config_tree(cli, overridden);
  return parse_config<T>(tree, config_source(cli), std::move(overridden));
}

// Runs `body` with the parsed config after setting up logging from config.log. `summary` is the first
// line of --help. Returns the process exit code.
int run_main_impl(int argc, char** argv, const std::string& summary,
                  const std::function<int(const CommandLine&)>& body);

template <class T>
int run_main(int argc, char** argv, const std::string& summary,
             const std::function<int(const T&, const CommandLine&)>& body) {
  return run_main_impl(argc, argv, summary, [&](const CommandLine& cli) {
    T config = load_config<T>(cli);
    if (cli.print_config) {
      fmt::print("{}", dump_config(config));
      return 0;
    }
    init_logging(config.log, rank_from_env());
    logger("common")->debug("resolved config:\n{}", dump_config(config));
    return body(config, cli);
  });
}

}  // namespace dsrl
