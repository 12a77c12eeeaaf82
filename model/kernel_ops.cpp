#include "model/kernel_ops.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "kernels/rmsnorm.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "kernels/rmsnorm_cuda.h"
#endif

namespace dsrl {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  DSRL_CHECK(x.dim() >= 1, "rms_norm: x must have at least 1 dimension, got shape {}", fmt::join(x.sizes(), "x"));
  DSRL_CHECK(x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat,
             "rms_norm: expected fp32 x and weight, got {} and {}", c10::toString(x.scalar_type()),
             c10::toString(weight.scalar_type()));
  const int64_t dim = x.size(-1);
  DSRL_CHECK(weight.dim() == 1 && weight.size(0) == dim, "rms_norm: weight must be [{}], got [{}]", dim,
             fmt::join(weight.sizes(), ", "));
  DSRL_CHECK(x.device() == weight.device(), "rms_norm: x on {} but weight on {}", x.device().str(),
             weight.device().str());
  at::Tensor xc = x.contiguous(), wc = weight.contiguous();
  at::Tensor y = at::empty_like(xc);
  const int64_t rows = dim == 0 ? 0 : xc.numel() / dim;
  if (x.is_cuda()) {
#ifdef DSRL_CUDA
    cudaError_t err = kernels::rms_norm_cuda(xc.data_ptr<float>(), wc.data_ptr<float>(), y.data_ptr<float>(), rows,
                                             dim, static_cast<float>(eps), at::cuda::getCurrentCUDAStream());
    DSRL_CHECK(err == cudaSuccess, "rms_norm_cuda failed: {}", cudaGetErrorString(err));
#else
    DSRL_FAIL("rms_norm: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)");
#endif
  } else {
    kernels::rms_norm_reference(xc.data_ptr<float>(), wc.data_ptr<float>(), y.data_ptr<float>(), rows, dim,
                                static_cast<float>(eps));
  }
  return y;
}

bool cuda_kernels_available() {
#ifdef DSRL_CUDA
  return at::hasCUDA();
#else
  return false;
#endif
}

}  // namespace dsrl
