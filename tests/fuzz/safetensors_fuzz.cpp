// libFuzzer target: a safetensors file (8-byte header length, JSON header, data) opened and every tensor read.
// Must end in tensors whose offsets lie inside the file, or in dsrl::Error.
#include <vector>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = dsrl::fuzz::scratch_file("model.safetensors");
  dsrl::fuzz::write_file(path, data, size);
  dsrl::fuzz::refusing_is_fine([&] {
    dsrl::SafetensorsFile file = dsrl::SafetensorsFile::open(path);
    std::vector<uint8_t> buffer;
    for (const dsrl::StTensorInfo& t : file.tensors()) {
      dsrl::fuzz::require(t.offset + t.nbytes <= file.file_size(), "a tensor's bytes lie past the end of the file");
      buffer.resize(t.nbytes);
      file.read(t, buffer.data(), buffer.size());
    }
  });
  return 0;
}
