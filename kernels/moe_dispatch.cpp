#include "kernels/moe_dispatch.h"

#include <algorithm>
#include <vector>

namespace dsrl::kernels {

void moe_dispatch_reference(const int64_t* ids, int64_t slots, int64_t experts, int64_t* order, int64_t* rows,
                            int32_t* ends) {
  auto expert_of = [&](int64_t s) { return std::clamp<int64_t>(ids[s], 0, experts - 1); };
  std::vector<int64_t> next(static_cast<size_t>(experts), 0);  // counts, then each expert's next free row
  for (int64_t s = 0; s < slots; ++s) ++next[expert_of(s)];
  int64_t end = 0;
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t count = next[e];
    next[e] = end;
    end += count;
    ends[e] = static_cast<int32_t>(end);
  }
  for (int64_t s = 0; s < slots; ++s) {
    const int64_t row = next[expert_of(s)]++;
    order[row] = s;
    rows[s] = row;
  }
}

}  // namespace dsrl::kernels
