#include "common/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace dsrl {

// A config shaped like the real ones: scalars, a choice, a list, a nested section, a list and a map of sections.
struct Expert {
  std::string name = "e";  // expert name
  double weight = 1.0;     // in [0, 10]
};
struct Optim {
  double lr = 1e-4;        // learning rate, > 0
  int warmup_steps = 100;  // steps, >= 0
};
struct Demo {
  std::string stage = "lm";
  int64_t steps = 10;
  bool shuffle = true;
  std::vector<int> stop_ids = {1};
  std::vector<std::string> endpoints;
  Optim optim;
  std::vector<Expert> experts;
  std::map<std::string, Optim> per_task;
};
void describe(ConfigIO& io, Expert& c) {
  io.field("name", c.name);
  io.field("weight", c.weight, 0.0, 10.0);
}
void describe(ConfigIO& io, Optim& c) {
  io.field("lr", c.lr, 1e-12, 1.0);
  io.field("warmup_steps", c.warmup_steps, 0, 1000000);
}
void describe(ConfigIO& io, Demo& c) {
  io.choice("stage", c.stage, {"lm", "sparse"});
  io.field("steps", c.steps, 1, 1000000000);
  io.field("shuffle", c.shuffle);
  io.field("stop_ids", c.stop_ids, 0, 200000);
  io.field("endpoints", c.endpoints);
  io.section("optim", c.optim);
  io.list("experts", c.experts);
  io.map("per_task", c.per_task);
}

namespace {

class ConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  Demo parse(const std::string& text, const std::vector<std::string>& sets = {}) {
    YAML::Node root = load_yaml(write(text));
    std::set<std::string> overridden;
    for (const auto& s : sets) overridden.insert(apply_override(root, s));
    return parse_config<Demo>(root, path_, overridden);
  }
  // The ConfigError message parse() throws, or "" if it parsed.
  std::string error(const std::string& text, const std::vector<std::string>& sets = {}) {
    try {
      parse(text, sets);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
  std::string path_ = (std::filesystem::temp_directory_path() / ("dsrl_config_test_" + std::to_string(::getpid()) + ".yaml")).string();
};

TEST_F(ConfigTest, AbsentKeysKeepDefaults) {
  Demo c = parse("");
  EXPECT_EQ(c.stage, "lm");
  EXPECT_EQ(c.steps, 10);
  EXPECT_EQ(c.stop_ids, std::vector<int>{1});
  EXPECT_DOUBLE_EQ(c.optim.lr, 1e-4);
}

TEST_F(ConfigTest, ReadsEveryKind) {
  Demo c = parse(R"(
stage: sparse
steps: 1_000
shuffle: false
stop_ids: [2, 3]
endpoints: [127.0.0.1:5000, "127.0.0.1:5001"]
optim: {lr: 3e-4, warmup_steps: 7}
experts:
  - {name: a, weight: 0.5}
  - name: b
per_task:
  math: {lr: 0.001}
)");
  EXPECT_EQ(c.stage, "sparse");
  EXPECT_EQ(c.steps, 1000);
  EXPECT_FALSE(c.shuffle);
  EXPECT_EQ(c.stop_ids, (std::vector<int>{2, 3}));
  EXPECT_EQ(c.endpoints, (std::vector<std::string>{"127.0.0.1:5000", "127.0.0.1:5001"}));
  EXPECT_DOUBLE_EQ(c.optim.lr, 3e-4);
  EXPECT_EQ(c.optim.warmup_steps, 7);
  ASSERT_EQ(c.experts.size(), 2u);
  EXPECT_EQ(c.experts[1].name, "b");
  EXPECT_DOUBLE_EQ(c.experts[1].weight, 1.0);  // default inside a list element
  EXPECT_DOUBLE_EQ(c.per_task.at("math").lr, 0.001);
  EXPECT_EQ(c.per_task.at("math").warmup_steps, 100);
}

TEST_F(ConfigTest, UnknownKeyNamesPathFileLineAndHint) {
  const std::string msg = error("steps: 5\noptim:\n  lr: 0.1\n  warmup_step: 3\n");
  EXPECT_NE(msg.find(path_ + ":4: unknown key optim.warmup_step"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean optim.warmup_steps?"), std::string::npos) << msg;
}

TEST_F(ConfigTest, UnknownTopLevelKey) {
  const std::string msg = error("stepz: 5\n");
  EXPECT_NE(msg.find(path_ + ":1: unknown key stepz"), std::string::npos) << msg;
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_NE(error("steps: many\n").find(":1: steps must be an integer, got 'many'"), std::string::npos);
  EXPECT_NE(error("steps: 2.5\n").find("steps must be an integer, got '2.5'"), std::string::npos);
  EXPECT_NE(error("shuffle: maybe\n").find("shuffle must be true or false, got 'maybe'"), std::string::npos);
  EXPECT_NE(error("optim: 3\n").find("optim must be a section (a map of keys), got '3'"), std::string::npos);
  EXPECT_NE(error("stop_ids: 3\n").find("stop_ids must be a list"), std::string::npos);
  EXPECT_NE(error("stop_ids: [1, x]\n").find("stop_ids[1] must be an integer, got 'x'"), std::string::npos);
  EXPECT_NE(error("stage: [lm]\n").find("stage must be a single value, got a list"), std::string::npos);
  EXPECT_NE(error("optim: {lr: fast}\n").find("optim.lr must be a number, got 'fast'"), std::string::npos);
  EXPECT_NE(error("- a\n- b\n").find("the top level must be a map"), std::string::npos);
  // Lists and maps as keys (found by tests/fuzz/config_fuzz; they escaped as yaml-cpp conversion errors).
  EXPECT_NE(error("per_task: {[a, b]: {lr: 0.1}}\n").find("per_task keys must be plain names, got a list"),
            std::string::npos) << error("per_task: {[a, b]: {lr: 0.1}}\n");
  EXPECT_NE(error("? [a]\n: 1\n").find("keys of the top level must be plain names, got a list"), std::string::npos)
      << error("? [a]\n: 1\n");
  EXPECT_NE(error("optim: {{x: 1}: 2}\n").find("keys of optim must be plain names, got a map"), std::string::npos)
      << error("optim: {{x: 1}: 2}\n");
}

TEST_F(ConfigTest, OutOfRange) {
  std::string msg = error("steps: 0\n");
  EXPECT_NE(msg.find(path_ + ":1: steps must be in [1, 1000000000], got 0"), std::string::npos) << msg;
  msg = error("optim:\n  lr: 2.0\n");
  EXPECT_NE(msg.find(path_ + ":2: optim.lr must be in [1e-12, 1], got 2"), std::string::npos) << msg;
  msg = error("experts:\n  - {name: a, weight: 11}\n");
  EXPECT_NE(msg.find("experts[0].weight must be in [0, 10], got 11"), std::string::npos) << msg;
  msg = error("stop_ids: [5, -1]\n");
  EXPECT_NE(msg.find("stop_ids[1] must be in [0, 200000], got -1"), std::string::npos) << msg;
  msg = error("steps: 99999999999999999999999\n");
  EXPECT_NE(msg.find("steps is out of the 64-bit integer range"), std::string::npos) << msg;
  msg = error("stage: dense\n");
  EXPECT_NE(msg.find("stage must be one of [lm, sparse], got 'dense'"), std::string::npos) << msg;
}

TEST_F(ConfigTest, IntegerFieldNarrowerThanInput) {
  // int fields take their own limits even without an explicit range.
  struct Narrow {
    int n = 0;
  };
  YAML::Node root = YAML::Load("n: 3000000000");
  ConfigIO io = ConfigIO::reader(root, "narrow.yaml");
  Narrow c;
  try {
    io.field("n", c.n);
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("n must be in [-2147483648, 2147483647], got 3000000000"), std::string::npos)
        << e.what();
  }
}

TEST_F(ConfigTest, MissingFileAndBadYaml) {
  try {
    load_yaml("/nonexistent/dsrl.yaml");
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read config file /nonexistent/dsrl.yaml"), std::string::npos);
  }
  const std::string msg = error("optim: {lr: 1\nsteps: 3\n");
  EXPECT_NE(msg.find("invalid YAML"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path_ + ":"), std::string::npos) << msg;
}

TEST_F(ConfigTest, OverridesScalarsListsAndNewSections) {
  Demo c = parse("steps: 5\noptim: {lr: 0.1}\n",
                 {"steps=7", "optim.warmup_steps=3", "stop_ids=[4, 5, 6]", "per_task.code.lr=0.5", "stage=sparse"});
  EXPECT_EQ(c.steps, 7);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.1);  // untouched sibling survives
  EXPECT_EQ(c.optim.warmup_steps, 3);
  EXPECT_EQ(c.stop_ids, (std::vector<int>{4, 5, 6}));
  EXPECT_DOUBLE_EQ(c.per_task.at("code").lr, 0.5);
  EXPECT_EQ(c.stage, "sparse");
}

TEST_F(ConfigTest, BadOverrides) {
  EXPECT_NE(error("", {"steps"}).find("--set steps: expected key=value"), std::string::npos);
  EXPECT_NE(error("", {"=3"}).find("is not a key path"), std::string::npos);
  EXPECT_NE(error("", {"a..b=3"}).find("is not a key path"), std::string::npos);
  EXPECT_NE(error("", {"stop_ids=[1"}).find("the value is not valid YAML"), std::string::npos);
  EXPECT_NE(error("steps: 5\n", {"steps.inner=3"}).find("--set steps.inner=3: steps holds a value, not a section"),
            std::string::npos);
  // Errors in an overridden value name the --set, not the file.
  std::string msg = error("steps: 5\n", {"optim.lr=-1"});
  EXPECT_NE(msg.find("--set optim.lr: optim.lr must be in"), std::string::npos) << msg;
  msg = error("", {"optim.lrr=0.1"});
  EXPECT_NE(msg.find("--set optim.lrr: unknown key optim.lrr"), std::string::npos) << msg;
  msg = error("", {"stop_ids=[1, x]"});
  EXPECT_NE(msg.find("--set stop_ids: stop_ids[1] must be an integer"), std::string::npos) << msg;
}

TEST_F(ConfigTest, DumpRoundTrips) {
  Demo c = parse("stage: sparse\nsteps: 42\nendpoints: [h:1]\nexperts: [{name: x, weight: 2.5}]\nper_task: {m: {lr: 0.25}}\n");
  const std::string yaml = dump_config(c);
  Demo again = parse(yaml);
  EXPECT_EQ(dump_config(again), yaml);
  EXPECT_EQ(again.steps, 42);
  EXPECT_EQ(again.experts.at(0).name, "x");
  EXPECT_DOUBLE_EQ(again.per_task.at("m").lr, 0.25);
  EXPECT_NE(yaml.find("warmup_steps: 100"), std::string::npos) << "defaults are dumped too:\n" << yaml;
}

TEST_F(ConfigTest, CrossFieldFailNamesKey) {
  YAML::Node root = YAML::Load("a: 1\nb: 2\n");
  ConfigIO io = ConfigIO::reader(root, "x.yaml");
  try {
    io.fail("b", "must be less than a");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "x.yaml:2: b must be less than a");
  }
}

}  // namespace
}  // namespace dsrl
