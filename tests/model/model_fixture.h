// Shared by the model tests: HF reference fixtures (made once per process by scripts/make-model-fixture.py) and a
// tiny random model.
#pragma once

#include <string>

#include "model/transformer.h"

namespace dsrl::testing {

// The folder holding plain/, yarn/ and *_io.safetensors; runs the script on first use (needs python3 with
// transformers, which scripts/install-deps.sh installs).
const std::string& hf_fixture_dir();

// The shapes of the HF fixture models, with our defaults elsewhere.
ModelConfig tiny_config();

// A random tiny model (fp32, CPU) with non-trivial norms and router biases.
DeepseekV32 tiny_model(const ModelConfig& config, uint64_t seed);

}  // namespace dsrl::testing
