// Checkpoint folders: reading (single file or index + shards, validated up front) and sharded saving.
#include "model/checkpoint_io.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "common/error.h"

namespace dsrl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

constexpr std::pair<StDType, at::ScalarType> kTorchDTypes[] = {
    {StDType::BOOL, at::kBool},     {StDType::U8, at::kByte},
    {StDType::I8, at::kChar},       {StDType::F8_E5M2, at::kFloat8_e5m2},
    {StDType::F8_E4M3, at::kFloat8_e4m3fn}, {StDType::F8_E8M0, at::kFloat8_e8m0fnu},
    {StDType::I16, at::kShort},     {StDType::U16, at::kUInt16},
    {StDType::F16, at::kHalf},      {StDType::BF16, at::kBFloat16},
    {StDType::I32, at::kInt},       {StDType::U32, at::kUInt32},
    {StDType::F32, at::kFloat},     {StDType::F64, at::kDouble},
    {StDType::I64, at::kLong},      {StDType::U64, at::kUInt64},
};

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  DSRL_CHECK(in.good(), "cannot open checkpoint index {}", path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    DSRL_FAIL("checkpoint index {} is not valid JSON: {}", path, e.what());
  }
}

std::vector<int64_t> shape_of(const at::Tensor& t) { return std::vector<int64_t>(t.sizes().begin(), t.sizes().end()); }

// Splits tensors (in order) into shards of at most max_bytes; an oversized tensor gets a shard of its own.
std::vector<std::vector<size_t>> plan_shards(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                             uint64_t max_bytes) {
  std::vector<std::vector<size_t>> shards(1);
  uint64_t used = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t nbytes = tensors[i].second.nbytes();
    if (!shards.back().empty() && used + nbytes > max_bytes) shards.emplace_back(), used = 0;
    shards.back().push_back(i);
    used += nbytes;
  }
  return shards;
}

// Writes one shard, copying one tensor at a time to CPU (a GPU model is never staged on the host whole).
void write_shard(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                 const std::vector<size_t>& members) {
  std::vector<StTensorView> views;
  for (size_t i : members)
    views.push_back({tensors[i].first, st_dtype_of(tensors[i].second.scalar_type()), shape_of(tensors[i].second)});
  SafetensorsWriter writer(path, views, {{"format", "pt"}});
  for (size_t i : members) {
    at::Tensor cpu = tensors[i].second.detach().to(at::kCPU).contiguous();
    writer.write_next(cpu.data_ptr(), cpu.nbytes());
  }
  writer.commit();
}

void check_saveable(const std::string& folder, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    DSRL_CHECK(names.insert(name).second, "saving checkpoint {}: tensor '{}' given twice", folder, name);
    DSRL_CHECK(t.defined(), "saving checkpoint {}: tensor '{}' is undefined", folder, name);
    DSRL_CHECK(t.layout() == at::kStrided && !t.is_meta(),
               "saving checkpoint {}: tensor '{}' must be a dense (strided) tensor with data, got {}", folder, name,
               t.toString());
    st_dtype_of(t.scalar_type());  // throws for dtypes safetensors cannot hold
  }
}

// Removes weight files of an earlier save that `keep` does not contain.
void remove_stale_weights(const fs::path& folder, const std::set<std::string>& keep) {
  static const std::regex shard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  for (const fs::directory_entry& e : fs::directory_iterator(folder)) {
    std::string name = e.path().filename().string();
    bool ours = name == kSingleFile || name == kIndexFile || std::regex_match(name, shard);
    if (ours && !keep.count(name)) fs::remove(e.path());
  }
}

}  // namespace

at::ScalarType torch_dtype_of(StDType dtype) {
  for (const auto& [st, torch] : kTorchDTypes)
    if (st == dtype) return torch;
  DSRL_FAIL("safetensors dtype {} has no torch counterpart", st_dtype_name(dtype));
}

StDType st_dtype_of(at::ScalarType dtype) {
  for (const auto& [st, torch] : kTorchDTypes)
    if (torch == dtype) return st;
  DSRL_FAIL("torch dtype {} cannot be stored in safetensors", c10::toString(dtype));
}

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::exists(p / kSingleFile)) {
      open_single((p / kSingleFile).string());
    } else {
      DSRL_CHECK(fs::exists(p / kIndexFile), "checkpoint folder {} has neither {} nor {}", path, kSingleFile,
                 kIndexFile);
      open_index((p / kIndexFile).string());
    }
  } else {
    DSRL_CHECK(fs::exists(p), "checkpoint {} does not exist", path);
    std::string name = p.filename().string();
    bool is_index = name.size() >= 11 && name.compare(name.size() - 11, 11, ".index.json") == 0;
    is_index ? open_index(path) : open_single(path);
  }
}

void CheckpointReader::open_single(const std::string& file) {
  files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(file)));
  for (const StTensorInfo& info : files_.back()->tensors()) entries_[info.name] = {files_.back().get(), &info};
}

// Opens every shard the index names and checks that each listed tensor is in its shard.
void CheckpointReader::open_index(const std::string& index_file) {
  json index = read_json_file(index_file);
  DSRL_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
             "checkpoint index {} must be an object with a \"weight_map\" object", index_file);
  fs::path folder = fs::path(index_file).parent_path();
  std::map<std::string, const SafetensorsFile*> shards;
  for (const auto& item : index["weight_map"].items()) {
    const std::string& name = item.key();
    DSRL_CHECK(item.value().is_string(), "checkpoint index {}: weight_map entry of tensor '{}' must be a file name, "
               "got {}", index_file, name, item.value().dump());
    std::string shard = item.value().get<std::string>();
    DSRL_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard != "." && shard != "..",
               "checkpoint index {}: tensor '{}' names shard '{}', which is not a plain file name", index_file, name,
               shard);
    auto it = shards.find(shard);
    if (it == shards.end()) {
      fs::path shard_path = folder / shard;
      DSRL_CHECK(fs::exists(shard_path), "checkpoint index {} puts tensor '{}' in shard {}, which does not exist",
                 index_file, name, shard_path.string());
      files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(shard_path.string())));
      it = shards.emplace(shard, files_.back().get()).first;
    }
    const StTensorInfo* info = it->second->find(name);
    DSRL_CHECK(info != nullptr, "checkpoint index {} puts tensor '{}' in shard {}, which does not contain it (the "
               "shard has {} tensors)", index_file, name, it->second->path(), it->second->tensors().size());
    entries_[name] = {it->second, info};
  }
}

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> out;
  for (const auto& item : entries_) out.push_back(item.first);
  return out;
}

bool CheckpointReader::has(const std::string& name) const { return entries_.count(name) > 0; }

const CheckpointReader::Entry& CheckpointReader::entry(const std::string& name) const {
  auto it = entries_.find(name);
  DSRL_CHECK(it != entries_.end(), "checkpoint {} has no tensor '{}' (it has {} tensors)", path_, name,
             entries_.size());
  return it->second;
}

const StTensorInfo& CheckpointReader::info(const std::string& name) const { return *entry(name).info; }

std::string CheckpointReader::file_of(const std::string& name) const { return entry(name).file->path(); }

at::Tensor CheckpointReader::load(const std::string& name) const {
  const Entry& e = entry(name);
  at::Tensor t = at::empty(e.info->shape, at::TensorOptions().dtype(torch_dtype_of(e.info->dtype)));
  e.file->read(*e.info, t.data_ptr(), t.nbytes());
  if (e.info->dtype == StDType::BOOL) {  // a torch bool byte other than 0/1 is undefined behaviour downstream
    const auto* bytes = static_cast<const uint8_t*>(t.data_ptr());
    const uint8_t* bad = std::find_if(bytes, bytes + t.nbytes(), [](uint8_t b) { return b > 1; });
    DSRL_CHECK(bad == bytes + t.nbytes(), "checkpoint {}: BOOL tensor '{}' in {} holds byte {} at element {}, "
               "expected 0 or 1", path_, name, e.file->path(), int(*bad), bad - bytes);
  }
  return t;
}

void CheckpointReader::load_into(const std::string& name, const at::Tensor& target) const {
  const Entry& e = entry(name);
  DSRL_CHECK(target.defined(), "checkpoint {}: load_into of tensor '{}' got an undefined target", path_, name);
  std::vector<int64_t> want = shape_of(target);
  DSRL_CHECK(want == e.info->shape, "checkpoint {}: tensor '{}' in {} has shape {} ({}), but the target expects {}",
             path_, name, e.file->path(), st_shape_string(e.info->shape), st_dtype_name(e.info->dtype),
             st_shape_string(want));
  c10::NoGradGuard no_grad;
  if (target.is_cpu() && target.is_contiguous() && target.scalar_type() == torch_dtype_of(e.info->dtype) &&
      e.info->dtype != StDType::BOOL) {
    e.file->read(*e.info, target.data_ptr(), target.nbytes());  // straight into place, no staging copy
  } else {
    target.copy_(load(name));
  }
}

void save_checkpoint_tensors(const std::string& folder, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                             uint64_t max_shard_bytes) {
  DSRL_CHECK(max_shard_bytes > 0, "saving checkpoint {}: max_shard_bytes must be > 0", folder);
  check_saveable(folder, tensors);
  fs::create_directories(folder);
  std::vector<std::vector<size_t>> shards = plan_shards(tensors, max_shard_bytes);
  if (shards.size() == 1) {
    write_shard((fs::path(folder) / kSingleFile).string(), tensors, shards[0]);
    remove_stale_weights(folder, {kSingleFile});
    return;
  }
  std::set<std::string> written = {kIndexFile};
  json weight_map = json::object();
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    write_shard((fs::path(folder) / file).string(), tensors, shards[s]);
    written.insert(file);
    for (size_t i : shards[s]) {
      weight_map[tensors[i].first] = file;
      total += tensors[i].second.nbytes();
    }
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic((fs::path(folder) / kIndexFile).string(), index.dump(2) + "\n");
  remove_stale_weights(folder, written);
}

}  // namespace dsrl
