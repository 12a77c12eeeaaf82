// YAML -> typed config structs, and back.
//
// Each config struct is plain, with in-class defaults and a comment per field, plus one `describe` function
// that names its keys; the same function reads (rejecting unknown keys, wrong types and out-of-range values,
// naming the full key path and the file) and writes the resolved config back as YAML:
//
//   struct ServerConfig {
//     std::string host = "127.0.0.1";  // address to bind
//     int port = 0;                    // TCP port; 0 picks a free one and logs it
//   };
//   void describe(ConfigIO& io, ServerConfig& c) {
//     io.field("host", c.host);
//     io.field("port", c.port, 0, 65535);
//   }
//   ServerConfig c = parse_config<ServerConfig>(load_yaml("svc.yaml"), "svc.yaml");
//   -> svc.yaml:3: server.port must be in [0, 65535], got 70000
#pragma once

#include <yaml-cpp/yaml.h>

#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "common/error.h"

namespace dsrl {

// A config error: the message already names the file (or --set) and the full key path.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Reads or writes one YAML map (one struct), remembering its key path for messages.
class ConfigIO {
 public:
  // Reading from `node`; `file` names where it came from; keys in `overridden` came from --set instead.
  static ConfigIO reader(const YAML::Node& node, std::string file, std::set<std::string> overridden = {});
  // Writing: fields go into node().
  static ConfigIO writer();

  bool reading() const { return reading_; }
  const YAML::Node& node() const { return node_; }

  // Scalars: bool, integers, floating point, std::string; and std::vector of those.
  template <class T>
  void field(const std::string& key, T& value) {
    field(key, value, lowest<T>(), highest<T>());
  }
  // Numbers (or every element of a numeric list) in [min, max].
  template <class T, class B>
  void field(const std::string& key, T& value, B min, B max);
  // A string that must be one of `allowed`.
  void choice(const std::string& key, std::string& value, const std::vector<std::string>& allowed);
  // A nested struct with its own describe().
  template <class T>
  void section(const std::string& key, T& value);
  // A list of nested structs.
  template <class T>
  void list(const std::string& key, std::vector<T>& values);
  // A map from free-form names to nested structs.
  template <class T>
  void map(const std::string& key, std::map<std::string, T>& values);

  // Reading: fails on any key of this map that describe() did not name.
  void finish();
  // Throws a ConfigError about `key` (a cross-field check): "<file>:<line>: <path.key> <message>".
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  struct Context;
  ConfigIO(bool reading, YAML::Node node, std::string path, std::shared_ptr<const Context> context);
  std::string full_key(const std::string& key) const;
  std::string where(const std::string& key, const YAML::Node& value) const;
  // Reading: the child node, or an invalid node when absent (marks the key as known either way).
  YAML::Node take(const std::string& key);
  ConfigIO child(const std::string& key, const YAML::Node& node) const;
  void put(const std::string& key, const YAML::Node& value) { node_[key] = value; }

  template <class T>
  void scalar(const std::string& key, const YAML::Node& node, T& out, long double min, long double max) const;
  void convert(const std::string& key, const YAML::Node& node, bool& out) const;
  void convert(const std::string& key, const YAML::Node& node, std::string& out) const;
  void convert(const std::string& key, const YAML::Node& node, long long& out) const;
  void convert(const std::string& key, const YAML::Node& node, long double& out) const;
  template <class T>
  static constexpr long double lowest() {
    if constexpr (std::is_arithmetic_v<T>) return static_cast<long double>(std::numeric_limits<T>::lowest());
    else return 0;
  }
  template <class T>
  static constexpr long double highest() {
    if constexpr (std::is_arithmetic_v<T>) return static_cast<long double>(std::numeric_limits<T>::max());
    else return 0;
  }

  bool reading_;
  YAML::Node node_;
  std::string path_;                       // "server" for the section server: (empty at the root)
  std::shared_ptr<const Context> context_;  // file name and --set keys, shared by all children
  std::set<std::string> seen_;
};

// --- loading ----------------------------------------------------------------------------------------------

// Parses a YAML file (an empty file is an empty map). Throws ConfigError naming the file (and line).
YAML::Node load_yaml(const std::string& file);
// Applies one "a.b.c=value" override (value in YAML syntax: 3, true, text, [1, 2]); returns the key "a.b.c".
std::string apply_override(YAML::Node& root, const std::string& assignment);
// Reads a whole config struct from `root`.
template <class T>
T parse_config(const YAML::Node& root, const std::string& file, std::set<std::string> overridden = {}) {
  T config;
  ConfigIO io = ConfigIO::reader(root, file, std::move(overridden));
  describe(io, config);
  io.finish();
  return config;
}
// The resolved config as YAML text.
template <class T>
std::string dump_config(T config) {
  ConfigIO io = ConfigIO::writer();
  describe(io, config);
  YAML::Emitter out;
  out << io.node();
  return std::string(out.c_str()) + "\n";
}

// --- template definitions ---------------------------------------------------------------------------------

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

template <class T, class B>
void ConfigIO::field(const std::string& key, T& value, B min, B max) {
  const long double lo = static_cast<long double>(min), hi = static_cast<long double>(max);
  if (!reading_) {
    put(key, YAML::Node(value));
    return;
  }
  YAML::Node node = take(key);
  if (!node.IsDefined()) return;  // absent: keep the default
  if constexpr (is_vector<T>::value) {
    if (!node.IsSequence()) fail(key, "must be a list, e.g. [1, 2]");
    T parsed(node.size());
    for (size_t i = 0; i < node.size(); ++i) scalar(key + "[" + std::to_string(i) + "]", node[i], parsed[i], lo, hi);
    value = std::move(parsed);
  } else {
    scalar(key, node, value, lo, hi);
  }
}

template <class T>
void ConfigIO::scalar(const std::string& key, const YAML::Node& node, T& out, long double min,
                      long double max) const {
  if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string>) {
    convert(key, node, out);
  } else if constexpr (std::is_integral_v<T>) {
    long long v = 0;
    convert(key, node, v);
    if (v < min || v > max) fail(key, fmt::format("must be in [{}, {}], got {}", (long long)min, (long long)max, v));
    out = static_cast<T>(v);
  } else {
    static_assert(std::is_floating_point_v<T>, "config fields are bool, integers, floats, strings or lists");
    long double v = 0;
    convert(key, node, v);
    if (!(v >= min && v <= max)) fail(key, fmt::format("must be in [{}, {}], got {}", (double)min, (double)max, (double)v));
    out = static_cast<T>(v);
  }
}

template <class T>
void ConfigIO::section(const std::string& key, T& value) {
  if (!reading_) {
    ConfigIO sub = child(key, YAML::Node(YAML::NodeType::Map));
    describe(sub, value);
    put(key, sub.node());
    return;
  }
  YAML::Node node = take(key);
  if (!node.IsDefined() || node.IsNull()) return;
  ConfigIO sub = child(key, node);
  describe(sub, value);
  sub.finish();
}

template <class T>
void ConfigIO::list(const std::string& key, std::vector<T>& values) {
  if (!reading_) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (size_t i = 0; i < values.size(); ++i) {
      ConfigIO sub = child(key + "[" + std::to_string(i) + "]", YAML::Node(YAML::NodeType::Map));
      describe(sub, values[i]);
      out.push_back(sub.node());
    }
    put(key, out);
    return;
  }
  YAML::Node node = take(key);
  if (!node.IsDefined()) return;
  if (!node.IsSequence()) fail(key, "must be a list of sections");
  std::vector<T> parsed(node.size());
  for (size_t i = 0; i < node.size(); ++i) {
    ConfigIO sub = child(key + "[" + std::to_string(i) + "]", node[i]);
    describe(sub, parsed[i]);
    sub.finish();
  }
  values = std::move(parsed);
}

template <class T>
void ConfigIO::map(const std::string& key, std::map<std::string, T>& values) {
  if (!reading_) {
    YAML::Node out(YAML::NodeType::Map);
    for (auto& [name, value] : values) {
      ConfigIO sub = child(key + "." + name, YAML::Node(YAML::NodeType::Map));
      describe(sub, value);
      out[name] = sub.node();
    }
    put(key, out);
    return;
  }
  YAML::Node node = take(key);
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) fail(key, "must be a map from names to sections");
  std::map<std::string, T> parsed;
  for (const auto& entry : node) {
    // A list or map as a key ("? [a, b]: ...") names nothing (found by tests/fuzz/config_fuzz).
    if (!entry.first.IsScalar()) fail(key, "keys must be plain names, got a " +
                                           std::string(entry.first.IsSequence() ? "list" : "map or null"));
    const std::string name = entry.first.as<std::string>();
    T value = values.count(name) ? values.at(name) : T{};
    ConfigIO sub = child(key + "." + name, entry.second);
    describe(sub, value);
    sub.finish();
    parsed[name] = std::move(value);
  }
  values = std::move(parsed);
}

}  // namespace dsrl
