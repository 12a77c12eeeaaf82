#include "kernels/rope.h"

namespace dsrl::kernels {

void rope_reference(const float* x, const float* cos, const float* sin, float* out, int64_t rows, int64_t heads,
                    int64_t dim, bool interleaved, bool inverse) {
  const int64_t half = dim / 2;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h) {
      const float* xh = x + (r * heads + h) * dim;
      float* oh = out + (r * heads + h) * dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
        const double a = xh[ia], b = xh[ib], c = cos[r * half + i], s = (inverse ? -1.0 : 1.0) * sin[r * half + i];
        oh[ia] = static_cast<float>(a * c - b * s);  // both read before either is written: x may alias out
        oh[ib] = static_cast<float>(b * c + a * s);
      }
    }
}

}  // namespace dsrl::kernels
