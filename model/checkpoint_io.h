// Checkpoint folders in the HF layout: config.json plus either one model.safetensors or
// model.safetensors.index.json ({"metadata": {"total_size": N}, "weight_map": {tensor: shard file}}) and its shards
// model-00001-of-0000N.safetensors. Reading validates every file and the index against the shards up front; tensors
// are then read one at a time (pread), so a many-GB checkpoint never sits in memory whole.
//
//   CheckpointReader ckpt("runs/x/step-100");
//   ckpt.load_into("model.norm.weight", norm->weight);   // checks the shape, converts dtype, any device
//   save_checkpoint_tensors("runs/x/step-200", named_tensors);
//
// config.json is not touched here: whoever owns the model config writes and reads it.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/safetensors.h"

namespace dsrl {

// The torch dtype of a safetensors dtype and back; dtypes without a counterpart are a dsrl::Error.
at::ScalarType torch_dtype_of(StDType dtype);
StDType st_dtype_of(at::ScalarType dtype);

class CheckpointReader {
 public:
  // A checkpoint folder, a single .safetensors file, or a model.safetensors.index.json. In a folder,
  // model.safetensors wins over an index when both exist (as in HF transformers).
  explicit CheckpointReader(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const;
  // dtype, shape and byte size as stored; a missing tensor is an error naming the checkpoint and the tensor.
  const StTensorInfo& info(const std::string& name) const;
  // A new CPU tensor in its stored dtype.
  at::Tensor load(const std::string& name) const;
  // Copies the tensor into `target` (any device, any dtype: converted as Tensor::copy_ does, without autograd)
  // after checking that the shapes match; an error names the file, the tensor and both shapes.
  void load_into(const std::string& name, const at::Tensor& target) const;
  // The path of the .safetensors file holding `name`.
  std::string file_of(const std::string& name) const;

 private:
  struct Entry {
    const SafetensorsFile* file;
    const StTensorInfo* info;
  };
  const Entry& entry(const std::string& name) const;
  void open_single(const std::string& file);
  void open_index(const std::string& index_file);

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry> entries_;
};

// Writes `tensors` (any device; dtypes fp32, bf16, fp16, fp8 e4m3/e5m2, int8-64, uint8, bool, fp64) into `folder`
// (created if needed) as HF-style shards of at most max_shard_bytes each: one model.safetensors when everything fits,
// else model-00001-of-0000N.safetensors + model.safetensors.index.json. Tensors keep their order; a tensor larger than
// max_shard_bytes gets a shard of its own. Each file appears atomically (temp + fsync + rename), the index last;
// weight files of an earlier save that the new layout does not use are then removed. Overwriting a sharded
// checkpoint in place is not atomic as a whole: save into a new folder and rename it when that matters.
// Each file's metadata is {"format": "pt"}, which HF transformers expects.
void save_checkpoint_tensors(const std::string& folder, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                             uint64_t max_shard_bytes = 5ull << 30);

}  // namespace dsrl
