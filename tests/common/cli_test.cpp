#include "common/cli.h"

#include <gtest/gtest.h>

namespace dsrl {
namespace {

CommandLine parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

std::string error(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(CommandLine, ParsesFlags) {
  CommandLine cli = parse({"/usr/bin/dsrl-train", "--config", "c.yaml", "--set", "a.b=1", "--set=c=[1,2]", "--print-config"});
  EXPECT_EQ(cli.program, "dsrl-train");
  EXPECT_EQ(cli.config_file, "c.yaml");
  EXPECT_EQ(cli.sets, (std::vector<std::string>{"a.b=1", "c=[1,2]"}));
  EXPECT_TRUE(cli.print_config);
  EXPECT_FALSE(cli.help);
  EXPECT_TRUE(parse({"x", "-h"}).help);
  EXPECT_EQ(parse({"x", "--config=d.yaml"}).config_file, "d.yaml");
}

TEST(CommandLine, RejectsUnknownAndIncomplete) {
  EXPECT_EQ(error({"x", "--confg", "c.yaml"}), "unknown argument '--confg' (see --help)");
  EXPECT_EQ(error({"x", "--set"}), "--set needs a value (see --help)");
  EXPECT_EQ(error({"x", "stray"}), "unknown argument 'stray' (see --help)");
}

TEST(CommandLine, OverridesApplyWithoutAFile) {
  CommandLine cli = parse({"x", "--set", "log.level=debug"});
  std::set<std::string> overridden;
  YAML::Node tree = load_config_tree(cli, overridden);
  EXPECT_EQ(tree["log"]["level"].as<std::string>(), "debug");
  EXPECT_EQ(overridden, (std::set<std::string>{"log.level"}));
  LogConfig log = parse_config<LogConfig>(tree["log"], config_source(cli));
  EXPECT_EQ(log.level, "debug");
}

}  // namespace
}  // namespace dsrl
