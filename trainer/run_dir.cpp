#include "trainer/run_dir.h"

#include <ctime>
#include <filesystem>
#include <fstream>

#include "common/config.h"
#include "trainer/config.h"

namespace dsrl {

std::string prepare_run_dir(const TrainConfig& config) {
  std::string dir = config.run_dir;
  if (dir.empty()) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::gmtime(&now));
    dir = "runs/" + config.stage + "-" + stamp;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DSRL_CHECK(!ec, "cannot create run directory {}: {}", dir, ec.message());
  TrainConfig resolved = config;
  resolved.run_dir = dir;
  std::ofstream out(dir + "/config.yaml");
  out << dump_config(resolved);
  DSRL_CHECK(out.good(), "cannot write {}/config.yaml", dir);
  return dir;
}

void append_metrics(const std::string& run_dir, const std::string& json_line, const std::string& file) {
  std::ofstream out(run_dir + "/" + file, std::ios::app);
  out << json_line << "\n";
  DSRL_CHECK(out.good(), "cannot append to {}/{}", run_dir, file);
}

}  // namespace dsrl
