// MoE token dispatch: the token slots (slot s = token * k + j, the j-th expert chosen for a token) grouped by expert,
// stably, for the grouped GEMMs over experts (model/moe.cpp). Plain C++ reference here; the CUDA launcher is in
// moe_dispatch_cuda.h; the at::Tensor wrapper in model/moe_ops.h.
#pragma once

#include <cstdint>

namespace dsrl::kernels {

// ids: [slots] expert of each slot, in [0, experts) (callers check; an id outside is clamped into the range).
// Writes order[i], the slot at grouped row i (expert 0's slots first, each expert's in slot order); rows[s], the
// grouped row of slot s (order's inverse); ends[e], one past expert e's last row (the offsets a grouped GEMM takes).
void moe_dispatch_reference(const int64_t* ids, int64_t slots, int64_t experts, int64_t* order, int64_t* rows,
                            int32_t* ends);

}  // namespace dsrl::kernels
