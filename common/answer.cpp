#include "common/answer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace dsrl {
namespace {

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool digit(char c) { return c >= '0' && c <= '9'; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && space(s[b])) ++b;
  while (e > b && space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool starts_with(const std::string& s, const std::string& p, size_t at = 0) { return s.compare(at, p.size(), p) == 0; }

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// Index just past the brace group opening at s[open] == '{', or npos when unbalanced.
size_t close_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;  // \{ and \} do not count
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i + 1;
  }
  return std::string::npos;
}

// \cmd{X} -> X for every wrapper command.
void unwrap(std::string& s, const std::string& cmd) {
  for (size_t at = s.find(cmd); at != std::string::npos; at = s.find(cmd, at)) {
    size_t open = at + cmd.size();
    while (open < s.size() && space(s[open])) ++open;
    if (open >= s.size() || s[open] != '{') {
      at += cmd.size();
      continue;
    }
    const size_t end = close_brace(s, open);
    if (end == std::string::npos) return;
    s = s.substr(0, at) + s.substr(open + 1, end - open - 2) + s.substr(end);
  }
}

// Strips one layer of math delimiters around the whole string; true when it did.
bool strip_delimiters(std::string& s) {
  for (auto [open, close] : {std::pair<const char*, const char*>{"$$", "$$"}, {"$", "$"}, {"\\(", "\\)"},
                             {"\\[", "\\]"}}) {
    const std::string o = open, c = close;
    if (s.size() >= o.size() + c.size() && starts_with(s, o) && s.compare(s.size() - c.size(), c.size(), c) == 0) {
      s = trim(s.substr(o.size(), s.size() - o.size() - c.size()));
      return true;
    }
  }
  return false;
}

struct Number {
  double value = 0;
  bool percent = false;
  bool integer = false;  // written as an integer (digits and separators only): compared exactly
};

// A plain decimal: 12, 1,234,567, 3.25, .5, 5. (no sign, no spaces).
bool plain_decimal(const std::string& s, double* out) {
  if (s.empty()) return false;
  std::string digits;
  size_t i = 0, group = 0;
  bool commas = false;
  while (i < s.size() && (digit(s[i]) || s[i] == ',')) {
    if (s[i] == ',') {
      if (group == 0 || (commas && group != 3) || (!commas && group > 3)) return false;
      commas = true;
      group = 0;
    } else {
      digits += s[i];
      ++group;
    }
    ++i;
  }
  if (commas && group != 3) return false;
  if (i < s.size() && s[i] == '.') {
    digits += s[i++];
    while (i < s.size() && digit(s[i])) digits += s[i++];
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E') && !digits.empty()) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
    if (j < s.size() && digit(s[j])) {
      digits += s.substr(i);
      i = s.size();
      for (size_t k = j; k < s.size(); ++k)
        if (!digit(s[k])) return false;
    }
  }
  if (i != s.size() || digits.empty() || digits == ".") return false;
  *out = std::strtod(digits.c_str(), nullptr);
  return true;
}

std::optional<Number> parse_number(std::string s);

// \frac{a}{b}, \frac ab (single characters), a/b.
std::optional<double> parse_fraction(const std::string& s) {
  if (starts_with(s, "\\frac")) {
    std::string rest = s.substr(5), num, den;
    auto take = [&](std::string& part) {
      if (rest.empty()) return false;
      if (rest[0] == '{') {
        const size_t end = close_brace(rest, 0);
        if (end == std::string::npos) return false;
        part = rest.substr(1, end - 2);
        rest = rest.substr(end);
      } else {
        part = rest.substr(0, 1);
        rest = rest.substr(1);
      }
      return true;
    };
    if (!take(num) || !take(den) || !rest.empty()) return std::nullopt;
    auto a = parse_number(num), b = parse_number(den);
    if (!a || !b || b->value == 0 || a->percent || b->percent) return std::nullopt;
    return a->value / b->value;
  }
  const size_t slash = s.find('/');
  if (slash == std::string::npos || s.find('/', slash + 1) != std::string::npos) return std::nullopt;
  double a = 0, b = 0;
  if (!plain_decimal(s.substr(0, slash), &a) || !plain_decimal(s.substr(slash + 1), &b) || b == 0) return std::nullopt;
  return a / b;
}

std::optional<Number> parse_any_number(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), space), s.end());
  replace_all(s, "{,}", ",");
  Number n;
  if (!s.empty() && s.back() == '%') {
    n.percent = true;
    s.pop_back();
  }
  double sign = 1;
  while (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    if (s[0] == '-') sign = -sign;
    s.erase(0, 1);
  }
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}' && close_brace(s, 0) == s.size()) s = s.substr(1, s.size() - 2);
  const size_t times = s.find("\\times10^");
  if (times != std::string::npos) {  // a \times 10^{b}
    std::string mant = s.substr(0, times), ex = s.substr(times + 9);
    if (!ex.empty() && ex.front() == '{' && ex.back() == '}') ex = ex.substr(1, ex.size() - 2);
    auto m = parse_number(mant), e = parse_number(ex);
    if (!m || !e || m->percent || e->percent) return std::nullopt;
    n.value = sign * m->value * std::pow(10.0, e->value);
    return n;
  }
  double v = 0;
  if (plain_decimal(s, &v)) {
    n.value = sign * v;
    n.integer = s.find_first_of(".eE") == std::string::npos;
    return n;
  }
  if (auto f = parse_fraction(s)) {
    n.value = sign * *f;
    return n;
  }
  return std::nullopt;
}

// Only finite values are numbers: 7e999 or 0/0 would be unequal to themselves (found by tests/fuzz/answer_fuzz),
// so such text is compared as text.
std::optional<Number> parse_number(std::string s) {
  std::optional<Number> n = parse_any_number(std::move(s));
  if (n && !std::isfinite(n->value)) return std::nullopt;
  return n;
}

bool numbers_equal(const Number& a, const Number& b, double tol) {
  if (a.integer && b.integer && !a.percent && !b.percent) return a.value == b.value;
  auto values = [](const Number& n) {
    std::vector<double> v = {n.value};
    if (n.percent) v.push_back(n.value / 100);
    return v;
  };
  for (double x : values(a))
    for (double y : values(b))
      if (std::abs(x - y) <= tol * std::max(1.0, std::abs(y))) return true;
  return false;
}

// Splits at top-level commas (outside braces and brackets).
std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '{' || c == '(' || c == '[') ++depth;
    if (c == '}' || c == ')' || c == ']') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  parts.push_back(trim(s.substr(start)));
  return parts;
}

struct Sequence {
  char open = 0, close = 0;  // 0 when unbracketed
  std::vector<std::string> items;
};

// "(a, b)", "[a, b)", "{a, b}", or "a, b" when that is not one number with thousands separators.
std::optional<Sequence> parse_sequence(const std::string& s) {
  Sequence q;
  std::string inner = s;
  if (s.size() >= 2 && std::string("([{").find(s.front()) != std::string::npos &&
      std::string(")]}").find(s.back()) != std::string::npos) {
    q.open = s.front();
    q.close = s.back();
    inner = s.substr(1, s.size() - 2);
  }
  q.items = split_top(inner);
  if (q.items.size() < 2) return std::nullopt;
  // "(1,]" and ".,2" are not tuples (found by tests/fuzz/answer_fuzz): an element that normalises to nothing can
  // match nothing, so such text is compared as text.
  for (const std::string& item : q.items)
    if (normalize_answer(item).empty()) return std::nullopt;
  if (!q.open && parse_number(s)) return std::nullopt;  // 1,234 is a number
  return q;
}

// The letter a multiple-choice answer names, or 0.
char choice_letter(std::string s) {
  s = trim(s);
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* prefix : {"option", "choice", "answer is", "answer:"})
    if (starts_with(lower, prefix)) return choice_letter(s.substr(std::string(prefix).size()));
  if (s.size() >= 3 && s[0] == '(' && s[2] == ')') s = s.substr(1, 1) + s.substr(3);
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return 0;
  const char letter = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  if (letter > 'J') return 0;
  if (s.size() == 1) return letter;
  const char next = s[1];
  return (next == '.' || next == ')' || next == ':' || (space(next) && s.size() > 2)) ? letter : 0;
}

std::string squeeze(const std::string& s, bool lower) {
  std::string out;
  for (char c : s)
    if (!space(c)) out += lower ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
  return out;
}

// "x = 5" -> "5" (one variable on the left).
std::string drop_assignment(const std::string& s) {
  const size_t eq = s.find('=');
  if (eq == std::string::npos || s.find('=', eq + 1) != std::string::npos) return s;
  const std::string left = trim(s.substr(0, eq));
  if (left.empty() || left.size() > 3 || !std::isalpha(static_cast<unsigned char>(left[0]))) return s;
  const std::string right = trim(s.substr(eq + 1));
  return right.empty() ? s : right;  // "x=" says nothing after the "=": keep it whole
}

bool equivalent(const std::string& a, const std::string& b, const MatchOptions& o, int depth);

bool sequences_equal(const Sequence& a, const Sequence& b, const MatchOptions& o, int depth) {
  if (a.items.size() != b.items.size()) return false;
  const bool same_brackets = a.open == b.open && a.close == b.close;
  const bool loose = !a.open || !b.open;  // "1, 2" against "(1, 2)"
  if (!same_brackets && !loose) return false;
  for (size_t i = 0; i < a.items.size(); ++i)
    if (!equivalent(a.items[i], b.items[i], o, depth + 1)) return false;
  return true;
}

bool equivalent(const std::string& answer, const std::string& reference, const MatchOptions& o, int depth) {
  if (depth > 8) return false;
  const std::string a = drop_assignment(normalize_answer(answer));
  const std::string r = drop_assignment(normalize_answer(reference));
  if (a.empty() || r.empty()) return false;
  const auto na = parse_number(a), nr = parse_number(r);
  if (na && nr) return numbers_equal(*na, *nr, o.tolerance);
  const char letter = r.size() <= 3 ? choice_letter(r) : 0;
  if (letter && r.size() == 1) return choice_letter(a) == letter;
  const auto qa = parse_sequence(a), qr = parse_sequence(r);
  if (qa && qr) return sequences_equal(*qa, *qr, o, depth);
  if (na || nr) return false;
  return squeeze(a, o.case_insensitive) == squeeze(r, o.case_insensitive);
}

}  // namespace

std::optional<std::string> last_boxed(const std::string& text) {
  size_t best = std::string::npos, cmd = 0;
  for (const char* name : {"\\boxed", "\\fbox"}) {
    const size_t at = text.rfind(name);
    if (at != std::string::npos && (best == std::string::npos || at > best)) {
      best = at;
      cmd = std::string(name).size();
    }
  }
  if (best == std::string::npos) return std::nullopt;
  size_t open = best + cmd;
  while (open < text.size() && space(text[open])) ++open;
  if (open < text.size() && text[open] == '{') {
    const size_t end = close_brace(text, open);
    if (end == std::string::npos) return std::nullopt;
    return trim(text.substr(open + 1, end - open - 2));
  }
  size_t end = open;  // "\boxed 5"
  while (end < text.size() && !space(text[end]) && text[end] != '$') ++end;
  if (end == open) return std::nullopt;
  return text.substr(open, end - open);
}

const std::vector<std::string>& answer_extractors() {
  static const std::vector<std::string> names = {"boxed", "answer_line", "last_number"};
  return names;
}

namespace {

std::optional<std::string> answer_line(const std::string& text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = text.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = trim(text.substr(start, end - start));
    end = start == 0 ? 0 : start - 1;
    while (!line.empty() && (line[0] == '*' || line[0] == '#' || line[0] == '-')) line = trim(line.substr(1));
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    size_t at = starts_with(lower, "final answer") ? 12 : starts_with(lower, "answer") ? 6 : std::string::npos;
    if (at == std::string::npos) continue;
    while (at < line.size() && line[at] == '*') ++at;
    if (starts_with(line, ":", at)) at += 1;
    else if (starts_with(line, "\xef\xbc\x9a", at)) at += 3;  // full-width colon
    else if (starts_with(lower, " is", at)) at += 3;
    else continue;
    std::string rest = trim(line.substr(at));
    while (!rest.empty() && (rest.back() == '*' || rest.back() == '.')) rest.pop_back();
    while (!rest.empty() && rest[0] == '*') rest.erase(0, 1);
    rest = trim(rest);
    if (!rest.empty()) return rest;
  }
  return std::nullopt;
}

std::optional<std::string> last_number(const std::string& text) {
  size_t i = text.size();
  while (i > 0 && !digit(text[i - 1])) --i;
  if (i == 0) return std::nullopt;
  size_t end = i, start = i;
  while (start > 0 && (digit(text[start - 1]) || text[start - 1] == '.' || text[start - 1] == ',' ||
                       text[start - 1] == '/'))
    --start;
  while (start < end && !digit(text[start]) && text[start] != '.') ++start;
  if (start > 0 && text[start - 1] == '-') --start;
  if (end < text.size() && text[end] == '%') ++end;
  return text.substr(start, end - start);
}

}  // namespace

std::optional<std::string> extract_answer(const std::string& response, const std::vector<std::string>& order) {
  const size_t think = response.rfind("</think>");
  const std::string text = think == std::string::npos ? response : response.substr(think + 8);
  for (const std::string& how : order) {
    std::optional<std::string> found;
    if (how == "boxed") found = last_boxed(text);
    else if (how == "answer_line") found = answer_line(text);
    else if (how == "last_number") found = last_number(text);
    if (found && !trim(*found).empty()) return found;
  }
  return std::nullopt;
}

std::string normalize_answer(const std::string& text) {
  std::string s = trim(text);
  replace_all(s, "\xe2\x88\x92", "-");  // unicode minus
  replace_all(s, "\xc2\xb0", "");       // degree sign
  while (strip_delimiters(s)) {}
  for (const char* cmd : {"\\boxed", "\\text", "\\textbf", "\\textit", "\\mathrm", "\\mathbf", "\\mbox",
                          "\\operatorname"})
    unwrap(s, cmd);
  for (const char* gone : {"\\left", "\\right", "\\displaystyle", "\\!", "\\,", "\\;", "\\:", "^{\\circ}", "^\\circ",
                           "\\circ"})
    replace_all(s, gone, "");
  replace_all(s, "\\ ", " ");
  replace_all(s, "~", " ");
  replace_all(s, "\\dfrac", "\\frac");
  replace_all(s, "\\tfrac", "\\frac");
  replace_all(s, "\\%", "%");
  replace_all(s, "\\{", "{");
  replace_all(s, "\\}", "}");
  s = trim(s);
  while (strip_delimiters(s)) {}
  while (!s.empty() && s.back() == '.') s.pop_back();
  std::string out;
  for (char c : s) {
    if (space(c) && (out.empty() || out.back() == ' ')) continue;
    out += space(c) ? ' ' : c;
  }
  return trim(out);
}

bool answers_equivalent(const std::string& answer, const std::string& reference, const MatchOptions& options) {
  return equivalent(answer, reference, options, 0);
}

}  // namespace dsrl
