// CUDA launcher for sampling.h (built only with -DDSRL_CUDA=ON).
#pragma once

#include <cuda_runtime.h>

#include "kernels/sampling.h"

namespace dsrl::kernels {

// sample_reference on device pointers: one block per row; radix selects (count for top-k, probability mass for
// top-p) find the kept prefix without sorting, then an ordered pass writes the bits and draws the token. Sums are
// fp32 (the reference uses double), so a nucleus boundary within rounding of top_p can fall the other way.
cudaError_t sample_cuda(const float* logits, const double* uniforms, int64_t rows, int64_t vocab,
                        const SamplingSpec& spec, int64_t* tokens, float* logprobs, uint8_t* kept_bits,
                        cudaStream_t stream);

}  // namespace dsrl::kernels
