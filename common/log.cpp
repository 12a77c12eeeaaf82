#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "common/config.h"

namespace dsrl {
namespace {

std::mutex g_mutex;
std::vector<spdlog::sink_ptr> g_sinks = {std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
std::string g_pattern = "[%Y-%m-%d %H:%M:%S.%e] [r0] [%n] [%^%l%$] %v";
spdlog::level::level_enum g_level = spdlog::level::info;

const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};

}  // namespace

void describe(ConfigIO& io, LogConfig& c) {
  io.choice("level", c.level, kLevels);
  io.field("file", c.file);
}

int rank_from_env() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return 0;
}

void init_logging(const LogConfig& config, int rank) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_level = spdlog::level::from_str(config.level);
  g_pattern = fmt::format("[%Y-%m-%d %H:%M:%S.%e] [r{}] [%n] [%^%l%$] %v", rank);
  g_sinks.resize(1);
  if (!config.file.empty()) g_sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.file));
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) {
    l->sinks() = g_sinks;
    l->set_level(g_level);
    l->set_pattern(g_pattern);
  });
}

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  auto created = std::make_shared<spdlog::logger>(name, g_sinks.begin(), g_sinks.end());
  created->set_level(g_level);
  created->set_pattern(g_pattern);
  created->flush_on(spdlog::level::info);
  spdlog::register_logger(created);
  return created;
}

}  // namespace dsrl
