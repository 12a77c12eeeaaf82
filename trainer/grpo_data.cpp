#include "trainer/grpo_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "agent/python_tool.h"
#include "common/error.h"
#include "trainer/data_source.h"
#include "trainer/data_synthetic.h"

namespace dsrl {

GrpoPrompt make_prompt(const std::string& user, const std::string& answer, const std::string& rubric, int64_t task) {
  return GrpoPrompt{user, chat_document(user, "").prompt, answer, rubric, {}, task};
}

namespace {

std::vector<GrpoPrompt> synthetic_prompts(const SyntheticConfig& s, int64_t task) {
  std::vector<GrpoPrompt> out;
  for (const auto& e : make_synthetic(s)) out.push_back(make_prompt(e.question, e.answer, "", task));
  return out;
}

std::string optional_string(const nlohmann::json& object, const std::string& field, const std::string& where) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return "";
  DSRL_CHECK(it->is_string(), "{}: field \"{}\" must be a string, got {}", where, field, it->type_name());
  return it->get<std::string>();
}

// {path: content} with relative paths inside the repository; empty when the field is absent.
std::map<std::string, std::string> optional_files(const nlohmann::json& object, const std::string& field,
                                                  const std::string& where) {
  std::map<std::string, std::string> files;
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return files;
  DSRL_CHECK(it->is_object(), "{}: field \"{}\" must be an object of path -> content, got {}", where, field,
             it->type_name());
  for (const auto& [path, content] : it->items()) {
    DSRL_CHECK(is_relative_inside(path),
               "{}: {}: '{}' is not a relative path inside the repository", where, field, path);
    DSRL_CHECK(content.is_string(), "{}: {}['{}'] must be a string (the file's content), got {}", where, field, path,
               content.type_name());
    files[path] = content.get<std::string>();
  }
  return files;
}

std::vector<GrpoPrompt> file_prompts(const GrpoTaskConfig& t, int64_t task) {
  std::vector<GrpoPrompt> out;
  read_jsonl_objects(t.path, [&](const nlohmann::json& object, const std::string& where) {
    const std::string user = optional_string(object, t.prompt_field, where);
    DSRL_CHECK(!user.empty(), "{}: missing or empty prompt field \"{}\"", where, t.prompt_field);
    out.push_back(make_prompt(user, optional_string(object, t.answer_field, where),
                              optional_string(object, t.rubric_field, where), task));
    out.back().files = optional_files(object, t.files_field, where);
  });
  DSRL_CHECK(!out.empty(), "grpo task file '{}' holds no prompts", t.path);
  return out;
}

}  // namespace

PromptMixture::PromptMixture(const GrpoConfig& config) : seed_(config.seed) {
  for (size_t i = 0; i < config.tasks.size(); ++i) {
    const GrpoTaskConfig& t = config.tasks[i];
    Task task;
    task.weight = t.weight;
    task.name = t.task_type;
    task.prompts = t.path.empty() ? synthetic_prompts(t.synthetic, i) : file_prompts(t, i);
    if (i == 0 && config.eval_prompts > 0) {
      if (t.path.empty()) {
        SyntheticConfig other = t.synthetic;
        other.seed = t.synthetic.seed + 7919;
        other.count = config.eval_prompts;
        held_out_ = synthetic_prompts(other, 0);
      } else {
        DSRL_CHECK(static_cast<int64_t>(task.prompts.size()) > config.eval_prompts, "grpo task file '{}' has {} "
                   "prompts: too few to hold out eval_prompts {} and train on the rest", t.path, task.prompts.size(),
                   config.eval_prompts);
        held_out_.assign(task.prompts.end() - config.eval_prompts, task.prompts.end());
        task.prompts.resize(task.prompts.size() - config.eval_prompts);
      }
    }
    tasks_.push_back(std::move(task));
    shuffle(tasks_.back(), i);
  }
}

void PromptMixture::shuffle(Task& t, size_t index) {
  t.order.resize(t.prompts.size());
  for (size_t i = 0; i < t.order.size(); ++i) t.order[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng(seed_ * 1000003 + static_cast<uint64_t>(t.epoch) * 7919 + index);
  std::shuffle(t.order.begin(), t.order.end(), rng);
}

std::vector<GrpoPrompt> PromptMixture::next(int64_t count) {
  double total = 0;
  for (const auto& t : tasks_) total += t.weight;
  std::vector<int64_t> take(tasks_.size());
  std::vector<std::pair<double, size_t>> remainders;
  int64_t given = 0;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    const double exact = count * tasks_[i].weight / total;
    take[i] = static_cast<int64_t>(std::floor(exact));
    given += take[i];
    remainders.emplace_back(exact - take[i], i);
  }
  std::sort(remainders.begin(), remainders.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (int64_t k = 0; given < count; ++k, ++given) ++take[remainders[k % remainders.size()].second];
  std::vector<GrpoPrompt> out;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Task& t = tasks_[i];
    for (int64_t k = 0; k < take[i]; ++k) {
      if (t.next == static_cast<int64_t>(t.order.size())) {
        ++t.epoch;
        t.next = 0;
        shuffle(t, i);
      }
      out.push_back(t.prompts[t.order[t.next++]]);
    }
  }
  return out;
}

std::string PromptMixture::position_json() const {
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : tasks_) tasks.push_back({t.epoch, t.next});
  return nlohmann::json{{"tasks", tasks}}.dump();
}

void PromptMixture::seek(const std::string& json, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    DSRL_FAIL("{}: prompt position is not valid JSON ({})", where, e.what());
  }
  DSRL_CHECK(j.contains("tasks") && j["tasks"].is_array() && j["tasks"].size() == tasks_.size(),
             "{}: prompt position must list {} tasks (the config's), got {}", where, tasks_.size(), json);
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Task& t = tasks_[i];
    const auto& p = j["tasks"][i];
    DSRL_CHECK(p.is_array() && p.size() == 2 && p[0].is_number_integer() && p[1].is_number_integer() &&
                   p[1].get<int64_t>() >= 0 && p[1].get<int64_t>() <= static_cast<int64_t>(t.prompts.size()),
               "{}: task {} position must be [epoch, next] with next in [0, {}], got {}", where, i, t.prompts.size(),
               p.dump());
    t.epoch = p[0].get<int64_t>();
    shuffle(t, i);
    t.next = p[1].get<int64_t>();
  }
}

std::string PromptMixture::summary() const {
  std::vector<std::string> parts;
  for (const auto& t : tasks_) parts.push_back(fmt::format("{}: {} prompts (weight {})", t.name, t.prompts.size(), t.weight));
  return fmt::format("{}; {} held out", fmt::join(parts, ", "), held_out_.size());
}

std::vector<double> group_advantages(const std::vector<double>& rewards, bool std_normalize) {
  const size_t n = rewards.size();
  DSRL_CHECK(n >= 2, "group advantages need at least 2 rewards, got {}", n);
  double mean = 0;
  for (double r : rewards) mean += r / n;
  double var = 0;
  for (double r : rewards) var += (r - mean) * (r - mean) / (n - 1);
  std::vector<double> out;
  for (double r : rewards) out.push_back(std_normalize ? (r - mean) / (std::sqrt(var) + 1e-6) : r - mean);
  return out;
}

// --- packing ----------------------------------------------------------------------------------------------------

namespace {

class Writer {
 public:
  void i64(int64_t v) { raw(&v, sizeof v); }
  void f32(float v) { raw(&v, sizeof v); }
  template <class T>
  void vec(const std::vector<T>& v) {
    i64(static_cast<int64_t>(v.size()));
    raw(v.data(), v.size() * sizeof(T));
  }
  void str(const std::string& s) {
    i64(static_cast<int64_t>(s.size()));
    raw(s.data(), s.size());
  }
  std::string out;

 private:
  void raw(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  int64_t i64() { return get<int64_t>(); }
  float f32() { return get<float>(); }
  template <class T>
  std::vector<T> vec() {
    const int64_t n = length(sizeof(T));
    std::vector<T> v(static_cast<size_t>(n));
    raw(v.data(), v.size() * sizeof(T));
    return v;
  }
  std::string str() {
    std::string s(static_cast<size_t>(length(1)), '\0');
    raw(s.data(), s.size());
    return s;
  }
  bool done() const { return at_ == in_.size(); }

 private:
  template <class T>
  T get() {
    T v;
    raw(&v, sizeof v);
    return v;
  }
  int64_t length(size_t element) {
    const int64_t n = i64();
    DSRL_CHECK(n >= 0 && static_cast<size_t>(n) <= (in_.size() - at_) / element, "packed samples: a length of {} "
               "at byte {} runs past the end ({} bytes)", n, at_, in_.size());
    return n;
  }
  void raw(void* p, size_t n) {
    DSRL_CHECK(n <= in_.size() - at_, "packed samples: truncated at byte {} of {}", at_, in_.size());
    std::memcpy(p, in_.data() + at_, n);
    at_ += n;
  }
  const std::string& in_;
  size_t at_ = 0;
};

}  // namespace

std::string pack_samples(const std::vector<GrpoSample>& samples) {
  Writer w;
  w.i64(static_cast<int64_t>(samples.size()));
  for (const GrpoSample& s : samples) {
    w.vec(s.prompt);
    w.vec(s.response);
    w.vec(s.logprobs);
    w.i64(static_cast<int64_t>(s.masks.size()));
    for (const auto& m : s.masks) w.str(m);
    w.vec(s.loss_mask);
    w.i64(s.vocab_size);
    w.vec(s.routes);
    w.i64(s.route_layers);
    w.i64(s.experts);
    w.f32(s.advantage);
    w.f32(s.kl_beta);
  }
  return std::move(w.out);
}

std::vector<GrpoSample> unpack_samples(const std::string& bytes) {
  Reader r(bytes);
  const int64_t n = r.i64();
  DSRL_CHECK(n >= 0 && n <= static_cast<int64_t>(bytes.size()), "packed samples: bad count {}", n);
  std::vector<GrpoSample> out(static_cast<size_t>(n));
  for (GrpoSample& s : out) {
    s.prompt = r.vec<int32_t>();
    s.response = r.vec<int32_t>();
    s.logprobs = r.vec<float>();
    const int64_t masks = r.i64();
    DSRL_CHECK(masks >= 0 && masks <= static_cast<int64_t>(bytes.size()), "packed samples: bad mask count {}", masks);
    for (int64_t m = 0; m < masks; ++m) s.masks.push_back(r.str());
    s.loss_mask = r.vec<uint8_t>();
    s.vocab_size = r.i64();
    s.routes = r.vec<uint16_t>();
    s.route_layers = r.i64();
    s.experts = r.i64();
    s.advantage = r.f32();
    s.kl_beta = r.f32();
  }
  DSRL_CHECK(r.done(), "packed samples: trailing bytes after {} samples", n);
  return out;
}

}  // namespace dsrl
