#include "model/chat_json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dsrl {

std::string python_json_string(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  return out + "\"";
}

namespace {

// Python's float repr: the shortest digits that round-trip; positional notation for 1e-4 <= |x| < 1e16 (always
// with a fractional part, "3.0"), otherwise d.ddde+XX with at least two exponent digits.
std::string python_float(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {  // shortest %.Ne that reads back as x
    std::snprintf(buf, sizeof buf, "%.*e", precision - 1, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  std::string s = buf;  // [-]d[.ddd]e[+-]XX
  const size_t e = s.find('e');
  const int exponent = std::atoi(s.c_str() + e + 1);
  const bool negative = s[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i) {
    if (s[i] != '.') digits.push_back(s[i]);
  }
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {  // positional
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp;
}

}  // namespace

std::string python_json(const nlohmann::ordered_json& value) {
  using Type = nlohmann::ordered_json::value_t;
  switch (value.type()) {
    case Type::null: return "null";
    case Type::boolean: return value.get<bool>() ? "true" : "false";
    case Type::number_integer: return std::to_string(value.get<int64_t>());
    case Type::number_unsigned: return std::to_string(value.get<uint64_t>());
    case Type::number_float: return python_float(value.get<double>());
    case Type::string: return python_json_string(value.get_ref<const std::string&>());
    case Type::array: {
      std::string out = "[";
      for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + python_json(value[i]);
      return out + "]";
    }
    case Type::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        out += (first ? "" : ", ") + python_json_string(key) + ": " + python_json(item);
        first = false;
      }
      return out + "}";
    }
    default: return value.dump();  // binary / discarded: not produced by the JSON parser
  }
}

}  // namespace dsrl
