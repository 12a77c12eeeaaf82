#include "common/config.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

namespace dsrl {

struct ConfigIO::Context {
  std::string file;
  std::set<std::string> overridden;
};

namespace {

// Levenshtein distance, for "did you mean" hints on unknown keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string shown(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsNull()) return "nothing (null)";
  return node.IsSequence() ? "a list" : "a section";
}

}  // namespace

ConfigIO::ConfigIO(bool reading, YAML::Node node, std::string path, std::shared_ptr<const Context> context)
    : reading_(reading), node_(std::move(node)), path_(std::move(path)), context_(std::move(context)) {}

ConfigIO ConfigIO::reader(const YAML::Node& node, std::string file, std::set<std::string> overridden) {
  auto context = std::make_shared<Context>(Context{std::move(file), std::move(overridden)});
  ConfigIO io(true, node, "", context);
  if (node.IsDefined() && !node.IsNull() && !node.IsMap())
    throw ConfigError(fmt::format("{}: the top level must be a map of sections, got {}", context->file, shown(node)));
  return io;
}

ConfigIO ConfigIO::writer() { return ConfigIO(false, YAML::Node(YAML::NodeType::Map), "", nullptr); }

std::string ConfigIO::full_key(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

std::string ConfigIO::where(const std::string& key, const YAML::Node& value) const {
  // A key set (or inside a value set) by --set names the override rather than a file line.
  std::string path = full_key(key);
  while (!path.empty()) {
    if (context_->overridden.count(path)) return "--set " + path;
    size_t cut = path.find_last_of(".[");
    path = cut == std::string::npos ? "" : path.substr(0, cut);
  }
  const YAML::Mark mark = value.IsDefined() ? value.Mark() : node_.Mark();
  if (mark.is_null()) return context_->file;
  return fmt::format("{}:{}", context_->file, mark.line + 1);
}

void ConfigIO::fail(const std::string& key, const std::string& message) const {
  const YAML::Node& self = node_;  // const lookup: never inserts the key
  YAML::Node value = self.IsMap() ? self[key] : YAML::Node();
  throw ConfigError(fmt::format("{}: {} {}", where(key, value), full_key(key), message));
}

YAML::Node ConfigIO::take(const std::string& key) {
  seen_.insert(key);
  const YAML::Node& self = node_;
  if (!self.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return self[key];
}

ConfigIO ConfigIO::child(const std::string& key, const YAML::Node& node) const {
  if (reading_ && !node.IsMap()) fail(key, "must be a section (a map of keys), got " + shown(node));
  ConfigIO sub(reading_, node, full_key(key), context_);
  return sub;
}

void ConfigIO::finish() {
  if (!reading_ || !node_.IsMap()) return;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar())  // "? [a, b]: 1" (found by tests/fuzz/config_fuzz)
      throw ConfigError(fmt::format("{}: keys of {} must be plain names, got a {}", where("", entry.first),
                                    path_.empty() ? "the top level" : path_,
                                    entry.first.IsSequence() ? "list" : "map or null"));
    const std::string key = entry.first.as<std::string>();
    if (seen_.count(key)) continue;
    std::string hint;
    size_t best = 3;  // suggest only close names
    for (const auto& known : seen_) {
      size_t d = edit_distance(key, known);
      if (d < best) best = d, hint = "; did you mean " + full_key(known) + "?";
    }
    throw ConfigError(fmt::format("{}: unknown key {} (known keys here: {}{})", where(key, entry.second),
                                  full_key(key), join(seen_), hint));
  }
}

void ConfigIO::choice(const std::string& key, std::string& value, const std::vector<std::string>& allowed) {
  field(key, value);
  if (!reading_) return;
  for (const auto& option : allowed)
    if (value == option) return;
  std::string options;
  for (const auto& option : allowed) options += (options.empty() ? "" : ", ") + option;
  fail(key, fmt::format("must be one of [{}], got '{}'", options, value));
}

void ConfigIO::convert(const std::string& key, const YAML::Node& node, bool& out) const {
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  if (text == "true" || text == "True" || text == "TRUE") out = true;
  else if (text == "false" || text == "False" || text == "FALSE") out = false;
  else fail(key, "must be true or false, got " + shown(node));
}

void ConfigIO::convert(const std::string& key, const YAML::Node& node, std::string& out) const {
  if (node.IsNull()) out.clear();
  else if (node.IsScalar()) out = node.Scalar();
  else fail(key, "must be a single value, got " + shown(node));
}

void ConfigIO::convert(const std::string& key, const YAML::Node& node, long long& out) const {
  static const std::regex integer("[-+]?[0-9][0-9_]*");
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  if (!std::regex_match(text, integer)) fail(key, "must be an integer, got " + shown(node));
  std::string digits;
  for (char ch : text) if (ch != '_') digits += ch;
  errno = 0;
  char* end = nullptr;
  out = std::strtoll(digits.c_str(), &end, 10);
  if (errno == ERANGE) fail(key, "is out of the 64-bit integer range, got " + shown(node));
}

void ConfigIO::convert(const std::string& key, const YAML::Node& node, long double& out) const {
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  char* end = nullptr;
  errno = 0;
  out = text.empty() ? 0 : std::strtold(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || std::isnan(out))
    fail(key, "must be a number, got " + shown(node));
}

YAML::Node load_yaml(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("cannot read config file {}: {}", file, std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  try {
    YAML::Node root = YAML::Load(text.str());
    return root.IsNull() ? YAML::Node(YAML::NodeType::Map) : root;
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}:{}:{}: invalid YAML: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

std::string apply_override(YAML::Node& root, const std::string& assignment) {
  static const std::regex key_syntax("[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z_][A-Za-z0-9_-]*)*");
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos)
    throw ConfigError(fmt::format("--set {}: expected key=value, e.g. --set server.port=5000", assignment));
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  if (!std::regex_match(key, key_syntax))
    throw ConfigError(fmt::format("--set {}: '{}' is not a key path like a.b.c", assignment, key));
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("--set {}: the value is not valid YAML: {}", assignment, e.msg));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  YAML::Node node = root;
  std::string walked;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; start = dot + 1, dot = key.find('.', start)) {
    const std::string part = key.substr(start, dot - start);
    walked += (walked.empty() ? "" : ".") + part;
    YAML::Node next = node[part];
    if (!next.IsDefined() || next.IsNull()) next = YAML::Node(YAML::NodeType::Map);
    else if (!next.IsMap())
      throw ConfigError(fmt::format("--set {}: {} holds a value, not a section of keys", assignment, walked));
    node[part] = next;
    node.reset(next);
  }
  node[key.substr(start)] = value;
  return key;
}

}  // namespace dsrl
