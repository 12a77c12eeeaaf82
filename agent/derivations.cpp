#include "agent/derivations.h"

#include <fmt/format.h>

#include <cctype>
#include <functional>
#include <sstream>

#include "agent/proof_format.h"
#include "common/error.h"

namespace dsrl {
namespace {

// An expression tree: a leaf holds a number (op 0), an inner node an operator over two children.
struct Node {
  char op = 0;
  int64_t number = 0;
  int left = -1, right = -1;
};
struct Tree {
  std::vector<Node> nodes;
  int root = -1;
};

constexpr size_t kMaxLineBytes = 400;  // longer lines are not read as expressions

int precedence(char op) { return op == '*' ? 2 : op == 0 ? 3 : 1; }

// Recursive descent: expr = term {(+|-) term}; term = factor {* factor}; factor = [-]number | ( expr ).
class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  std::optional<Tree> parse() {
    if (s_.size() > kMaxLineBytes) return std::nullopt;
    const int root = expr(0);
    skip_space();
    if (root < 0 || at_ != s_.size()) return std::nullopt;
    tree_.root = root;
    return std::move(tree_);
  }

 private:
  void skip_space() {
    while (at_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[at_]))) ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ < s_.size() && s_[at_] == c) return ++at_, true;
    return false;
  }
  int add(Node n) {
    tree_.nodes.push_back(n);
    return static_cast<int>(tree_.nodes.size()) - 1;
  }
  int expr(int depth) {
    int left = term(depth);
    while (left >= 0) {
      skip_space();
      if (at_ >= s_.size() || (s_[at_] != '+' && s_[at_] != '-')) break;
      const char op = s_[at_++];
      const int right = term(depth);
      left = right < 0 ? -1 : add({op, 0, left, right});
    }
    return left;
  }
  int term(int depth) {
    int left = factor(depth);
    while (left >= 0 && take('*')) {
      const int right = factor(depth);
      left = right < 0 ? -1 : add({'*', 0, left, right});
    }
    return left;
  }
  int factor(int depth) {
    if (depth > 32) return -1;
    if (take('(')) {
      const int inner = expr(depth + 1);
      return inner >= 0 && take(')') ? inner : -1;
    }
    const bool negative = take('-');
    skip_space();
    const size_t start = at_;
    while (at_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[at_]))) ++at_;
    if (at_ == start || at_ - start > 12) return -1;
    const int64_t n = std::stoll(s_.substr(start, at_ - start));
    return add({0, negative ? -n : n, -1, -1});
  }

  const std::string& s_;
  size_t at_ = 0;
  Tree tree_;
};

std::optional<Tree> parse_expression(const std::string& text) { return Parser(text).parse(); }

std::optional<int64_t> value_of(const Tree& t, int i) {
  const Node& n = t.nodes[i];
  if (n.op == 0) return n.number;
  const auto a = value_of(t, n.left), b = value_of(t, n.right);
  if (!a || !b) return std::nullopt;
  int64_t out = 0;
  const bool overflow = n.op == '+'   ? __builtin_add_overflow(*a, *b, &out)
                        : n.op == '-' ? __builtin_sub_overflow(*a, *b, &out)
                                      : __builtin_mul_overflow(*a, *b, &out);
  return overflow ? std::nullopt : std::optional<int64_t>(out);
}
std::optional<int64_t> value_of(const Tree& t) { return value_of(t, t.root); }

int operations(const Tree& t, int i) {
  const Node& n = t.nodes[i];
  return n.op == 0 ? 0 : 1 + operations(t, n.left) + operations(t, n.right);
}

bool same_tree(const Tree& a, int i, const Tree& b, int j) {
  const Node &x = a.nodes[i], &y = b.nodes[j];
  if (x.op != y.op) return false;
  if (x.op == 0) return x.number == y.number;
  return same_tree(a, x.left, b, y.left) && same_tree(a, x.right, b, y.right);
}
bool same_tree(const Tree& a, const Tree& b) { return same_tree(a, a.root, b, b.root); }

// Inner nodes whose children are both numbers, left to right.
void ready_nodes(const Tree& t, int i, std::vector<int>* out) {
  const Node& n = t.nodes[i];
  if (n.op == 0) return;
  ready_nodes(t, n.left, out);
  if (t.nodes[n.left].op == 0 && t.nodes[n.right].op == 0) out->push_back(i);
  ready_nodes(t, n.right, out);
}

// `t` with node i replaced by the number `value`.
Tree with_number(Tree t, int i, int64_t value) {
  t.nodes[i] = Node{0, value, -1, -1};
  return t;
}

// Every tree one operation away from t (each ready operation evaluated), left to right.
std::vector<Tree> one_step_reductions(const Tree& t) {
  std::vector<int> ready;
  ready_nodes(t, t.root, &ready);
  std::vector<Tree> out;
  for (int i : ready)
    if (auto v = value_of(t, i)) out.push_back(with_number(t, i, *v));
  return out;
}

// Canonical text: single spaces around operators, parentheses only where the tree needs them (a child of lower
// precedence, or a right child of equal precedence).
std::string render(const Tree& t, int i) {
  const Node& n = t.nodes[i];
  if (n.op == 0) return std::to_string(n.number);
  auto side = [&](int child, bool right) {
    const int p = precedence(t.nodes[child].op), q = precedence(n.op);
    const std::string s = render(t, child);
    return p < q || (right && p == q) ? "(" + s + ")" : s;
  };
  return side(n.left, false) + " " + n.op + " " + side(n.right, true);
}
std::string render(const Tree& t) { return render(t, t.root); }

std::vector<std::string> proof_lines(const std::string& proof) {
  std::vector<std::string> lines;
  std::istringstream in(proof);
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find_first_not_of(" \t\r");
    if (a == std::string::npos) continue;
    const size_t b = line.find_last_not_of(" \t\r");
    lines.push_back(line.substr(a, b - a + 1));
  }
  return lines;
}

Tree random_tree(int ops, std::mt19937_64& rng) {
  Tree t;
  std::function<int(int)> grow = [&](int n) -> int {
    if (n == 0) {
      t.nodes.push_back({0, std::uniform_int_distribution<int64_t>(1, 9)(rng), -1, -1});
      return static_cast<int>(t.nodes.size()) - 1;
    }
    const int left_ops = std::uniform_int_distribution<int>(0, n - 1)(rng);
    const int l = grow(left_ops), r = grow(n - 1 - left_ops);
    t.nodes.push_back({"+-*"[std::uniform_int_distribution<int>(0, 2)(rng)], 0, l, r});
    return static_cast<int>(t.nodes.size()) - 1;
  };
  t.root = grow(ops);
  return t;
}

bool values_in_range(const Tree& t, int i) {
  const auto v = value_of(t, i);
  if (!v || *v < 0 || *v > 99) return false;
  const Node& n = t.nodes[i];
  return n.op == 0 || (values_in_range(t, n.left) && values_in_range(t, n.right));
}

// The rigorous derivation from t: t, then the leftmost ready operation evaluated, until one number is left.
std::vector<Tree> rigorous_steps(Tree t) {
  std::vector<Tree> steps = {t};
  while (operations(steps.back(), steps.back().root) > 0) steps.push_back(one_step_reductions(steps.back()).front());
  return steps;
}

std::string join_proof(const std::vector<Tree>& steps) {
  std::string out = render(steps[0]);
  for (size_t i = 1; i < steps.size(); ++i) out += "\n= " + render(steps[i]);
  return out;
}

// The rigorous proof with one step's result off by 1 to 3 (never below 0), carried on to the end. The planted
// value changes the line's value (tries other offsets otherwise).
std::vector<Tree> with_wrong_step(const std::vector<Tree>& steps, std::mt19937_64& rng) {
  const int ops = static_cast<int>(steps.size()) - 1;
  const int step = std::uniform_int_distribution<int>(1, ops)(rng);
  std::vector<int> ready;
  ready_nodes(steps[step - 1], steps[step - 1].root, &ready);
  const int node = ready.front();
  const int64_t right = *value_of(steps[step - 1], node);
  for (int attempt = 0; attempt < 16; ++attempt) {
    int64_t delta = std::uniform_int_distribution<int64_t>(1, 3)(rng);
    if (right - delta < 0 || std::uniform_int_distribution<int>(0, 1)(rng)) delta = -delta;
    const Tree wrong = with_number(steps[step - 1], node, right - delta);
    if (value_of(wrong) == value_of(steps[0])) continue;
    std::vector<Tree> out(steps.begin(), steps.begin() + step);
    for (const Tree& t : rigorous_steps(wrong)) out.push_back(t);
    return out;
  }
  return steps;  // no offset changed the value (a product with 0): leave the proof rigorous
}

}  // namespace

std::string DerivationClaim::text() const { return fmt::format("{} = {}", expression, value); }

std::optional<DerivationClaim> parse_claim(const std::string& text, std::string* why) {
  auto fail = [&](std::string message) -> std::optional<DerivationClaim> {
    if (why) *why = std::move(message);
    return std::nullopt;
  };
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos) return fail("no '=' (expected 'EXPR = V')");
  const auto lhs = parse_expression(text.substr(0, eq));
  const auto rhs = parse_expression(text.substr(eq + 1));
  if (!lhs)
    return fail(fmt::format("'{}' is not an expression of integers, + - * and parentheses", text.substr(0, eq)));
  if (!rhs || rhs->nodes[rhs->root].op != 0) return fail(fmt::format("'{}' is not an integer", text.substr(eq + 1)));
  const auto value = value_of(*lhs);
  if (!value) return fail("the expression overflows 64-bit integers");
  if (*value != rhs->nodes[rhs->root].number)
    return fail(fmt::format("the expression equals {}, not {}", *value, rhs->nodes[rhs->root].number));
  return DerivationClaim{render(*lhs), *value};
}

ProofGrade grade_derivation(const DerivationClaim& claim, const std::string& proof) {
  auto start = parse_expression(claim.expression);
  DSRL_CHECK(start && value_of(*start) == claim.value, "grade_derivation: the claim '{}' is not a true claim",
             claim.text());
  const std::vector<std::string> lines = proof_lines(proof);
  if (lines.empty()) return {0, 0, "There is no proof."};
  ProofGrade grade;
  Tree previous = *start;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line = static_cast<int>(i) + 1;
    const std::string& text = lines[i];
    const auto t = parse_expression(text[0] == '=' ? text.substr(1) : text);
    if (!t || !value_of(*t)) return {0, line, fmt::format("Line {} is not an expression.", line)};
    if (i == 0 && same_tree(*t, previous)) continue;  // the claim's expression restated
    const int64_t value = *value_of(*t);
    if (value != claim.value)
      return {0, line, fmt::format("Line {} is wrong: it equals {}, not {}.", line, value, claim.value)};
    bool one_step = false;
    for (const Tree& next : one_step_reductions(previous)) one_step = one_step || same_tree(next, *t);
    if (!one_step && grade.score == 1) grade = {0.5, line, fmt::format("Line {} skips a step.", line)};
    previous = *t;
  }
  if (operations(previous, previous.root) != 0)
    return {0, static_cast<int>(lines.size()), fmt::format("The proof stops before reaching {}.", claim.value)};
  return grade;
}

std::vector<DerivationClaim> make_derivation_claims(int64_t count, int operations, uint64_t seed) {
  DSRL_CHECK(count >= 1 && count <= 100000, "derivation claims: count must be in [1, 100000], got {}", count);
  DSRL_CHECK(operations >= 1 && operations <= 6, "derivation claims: operations must be in [1, 6], got {}",
             operations);
  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(operations));
  std::vector<DerivationClaim> claims;
  while (static_cast<int64_t>(claims.size()) < count) {
    const Tree t = random_tree(operations, rng);
    if (values_in_range(t, t.root)) claims.push_back({render(t), *value_of(t)});
  }
  return claims;
}

const char* flaw_name(ProofFlaw flaw) {
  return flaw == ProofFlaw::none ? "none" : flaw == ProofFlaw::wrong_step ? "wrong_step" : "skipped_step";
}

std::string derivation_proof(const DerivationClaim& claim, ProofFlaw flaw, std::mt19937_64& rng) {
  const auto start = parse_expression(claim.expression);
  DSRL_CHECK(start.has_value(), "derivation_proof: '{}' is not an expression", claim.expression);
  std::vector<Tree> steps = rigorous_steps(*start);
  const int ops = static_cast<int>(steps.size()) - 1;
  if (flaw == ProofFlaw::wrong_step) steps = with_wrong_step(steps, rng);
  if (flaw == ProofFlaw::skipped_step && ops >= 2)
    steps.erase(steps.begin() + std::uniform_int_distribution<int>(1, ops - 1)(rng));
  return join_proof(steps);
}

std::string derivation_analysis(const ProofGrade& grade) {
  const VerifierTemplate t;
  const std::string finding = grade.issue.empty() ? "Every line applies one operation correctly." : grade.issue;
  return fmt::format("{}\n{}\n{} \\boxed{{{}}}", t.evaluation_marker, finding, t.score_marker, grade.score);
}

#define DSRL_REWRITE_RULE                                                                                        \
  "Rewrite the expression one operation per line, each line starting with \"= \", until only the result is left."
#define DSRL_SCORING_RULE                                                                                        \
  "write \"Here is my evaluation of the solution:\", the first faulty line if any, and \"Based on my evaluation, " \
  "the final overall score should be: \\boxed{s}\" with s 1 (every step right), 0.5 (right but a step skipped) or " \
  "0 (a wrong step)."

// The fixed rules come first and the problem, proof and analysis last, close to where the reply starts.
const char* const kDerivationGeneratorPrompt =
    DSRL_REWRITE_RULE " Then check the proof: " DSRL_SCORING_RULE "\n\nProve that {problem}.";
const char* const kDerivationVerifierPrompt =
    "Each line of a proof must apply one operation of the line before. To check a proof, " DSRL_SCORING_RULE
    "\n\nCheck this proof that {problem}:\n{proof}";
const char* const kDerivationRevisionPrompt =
    DSRL_REWRITE_RULE " Then check the proof: " DSRL_SCORING_RULE
    "\n\nA reviewer checked this proof:\n{proof}\n{analysis}\n\nWrite a corrected proof that {problem}.";

#undef DSRL_REWRITE_RULE
#undef DSRL_SCORING_RULE

}  // namespace dsrl
