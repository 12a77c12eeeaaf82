#include "common/cli.h"

#include <cstring>
#include <iostream>

namespace dsrl {
namespace {

const char* kUsage = R"(
usage: {0} [--config FILE.yaml] [--set KEY=VALUE ...] [--print-config] [--resume] [--help]

  --config FILE     YAML config (see configs/ for examples); without it the defaults apply
  --set KEY=VALUE   override one key, e.g. --set server.port=5000 or --set a.list=[1,2]; repeatable
  --print-config    print the resolved config as YAML and exit
  --resume          (dsrl-train) continue from the newest complete checkpoint in the run directory
  --help            this text

Errors in the command line or config exit with code 2 and name the key and file.
)";

std::string base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine cli;
  cli.program = argc > 0 ? base_name(argv[0]) : "dsrl";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const bool takes_value = arg == "--config" || arg == "--set";
    if (takes_value) {
      if (i + 1 >= argc) throw ConfigError(fmt::format("{} needs a value (see --help)", arg));
      value = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0 || arg.rfind("--set=", 0) == 0) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
    }
    if (arg == "--config") cli.config_file = value;
    else if (arg == "--set") cli.sets.push_back(value);
    else if (arg == "--help" || arg == "-h") cli.help = true;
    else if (arg == "--print-config") cli.print_config = true;
    else if (arg == "--resume") cli.resume = true;
    else throw ConfigError(fmt::format("unknown argument '{}' (see --help)", arg));
  }
  return cli;
}

YAML::Node load_config_tree(const CommandLine& cli, std::set<std::string>& overridden) {
  YAML::Node tree = cli.config_file.empty() ? YAML::Node(YAML::NodeType::Map) : load_yaml(cli.config_file);
  if (!tree.IsMap())
    throw ConfigError(fmt::format("{}: the top level must be a map of sections", cli.config_file));
  for (const auto& assignment : cli.sets) overridden.insert(apply_override(tree, assignment));
  return tree;
}

std::string config_source(const CommandLine& cli) { return cli.config_file.empty() ? "--set" : cli.config_file; }

int run_main_impl(int argc, char** argv, const std::string& summary,
                  const std::function<int(const CommandLine&)>& body) {
  CommandLine cli;
  cli.program = argc > 0 ? base_name(argv[0]) : "dsrl";
  try {
    cli = parse_command_line(argc, argv);
    if (cli.help) {
      fmt::print("{}\n{}", summary, fmt::format(kUsage, cli.program));
      return 0;
    }
    return body(cli);
  } catch (const ConfigError& e) {
    std::cerr << cli.program << ": " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    logger("common")->error("{} failed: {}", cli.program, e.what());
    return 1;
  }
}

}  // namespace dsrl
