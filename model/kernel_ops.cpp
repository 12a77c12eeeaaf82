#include "model/kernel_ops.h"

#include <ATen/ATen.h>

#include <limits>

#include "common/error.h"
#include "kernels/rmsnorm.h"
#include "kernels/sparse_mla.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "kernels/rmsnorm_cuda.h"
#include "kernels/sparse_mla_cuda.h"
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

namespace {

void check_sparse_mla_inputs(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& indices, int64_t d_v) {
  DSRL_CHECK(q.dim() == 3 && kv.dim() == 2 && indices.dim() == 2,
             "sparse_mla_forward: expected q [N, H, d_qk], kv [T, d_qk], indices [N, K], got [{}], [{}], [{}]",
             fmt::join(q.sizes(), ", "), fmt::join(kv.sizes(), ", "), fmt::join(indices.sizes(), ", "));
  DSRL_CHECK(kv.size(1) == q.size(2), "sparse_mla_forward: kv rows have {} channels but q has {}", kv.size(1),
             q.size(2));
  DSRL_CHECK(indices.size(0) == q.size(0), "sparse_mla_forward: {} index rows for {} queries", indices.size(0),
             q.size(0));
  DSRL_CHECK(d_v > 0 && d_v <= q.size(2), "sparse_mla_forward: d_v must be in [1, {}], got {}", q.size(2), d_v);
  DSRL_CHECK(indices.scalar_type() == at::kInt || indices.scalar_type() == at::kLong,
             "sparse_mla_forward: indices must be int32 or int64, got {}", c10::toString(indices.scalar_type()));
  DSRL_CHECK(q.device() == kv.device() && q.device() == indices.device(),
             "sparse_mla_forward: q on {}, kv on {}, indices on {}", q.device().str(), kv.device().str(),
             indices.device().str());
  DSRL_CHECK(kv.size(0) <= std::numeric_limits<int32_t>::max(), "sparse_mla_forward: {} kv rows exceed int32",
             kv.size(0));
}

}  // namespace

std::pair<at::Tensor, at::Tensor> sparse_mla_forward(const at::Tensor& q, const at::Tensor& kv,
                                                     const at::Tensor& indices, int64_t d_v, double scale) {
  check_sparse_mla_inputs(q, kv, indices, d_v);
  kernels::SparseMlaShape shape{q.size(0), q.size(1), kv.size(0), q.size(2), d_v, indices.size(1)};
  at::Tensor idx = indices.to(at::kInt).contiguous();
  at::Tensor lse = at::empty({shape.s_q, shape.heads}, q.options().dtype(at::kFloat));
  if (q.is_cuda()) {
#ifdef DSRL_CUDA
    DSRL_CHECK(sparse_mla_kernel_applies(q, d_v) && kv.scalar_type() == at::kBFloat16,
               "sparse_mla_forward: the CUDA kernel takes bf16 q and kv with heads a multiple of 16 and (d_qk, d_v) "
               "(576, 512) or (288, 256); got {} q, {} kv, {} heads, ({}, {})", c10::toString(q.scalar_type()),
               c10::toString(kv.scalar_type()), shape.heads, shape.d_qk, d_v);
    at::Tensor qc = q.contiguous(), kvc = kv.contiguous();
    at::Tensor out = at::empty({shape.s_q, shape.heads, d_v}, q.options());
    cudaError_t err = kernels::sparse_mla_forward_cuda(
        reinterpret_cast<const __nv_bfloat16*>(qc.data_ptr()), reinterpret_cast<const __nv_bfloat16*>(kvc.data_ptr()),
        idx.data_ptr<int32_t>(), reinterpret_cast<__nv_bfloat16*>(out.data_ptr()), lse.data_ptr<float>(), shape,
        static_cast<float>(scale), at::cuda::getCurrentCUDAStream());
    DSRL_CHECK(err == cudaSuccess, "sparse_mla_forward_cuda failed: {}", cudaGetErrorString(err));
    return {out, lse};
#else
    DSRL_FAIL("sparse_mla_forward: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)");
#endif
  }
  at::Tensor qf = q.to(at::kFloat).contiguous(), kvf = kv.to(at::kFloat).contiguous();
  at::Tensor out = at::empty({shape.s_q, shape.heads, d_v}, qf.options());
  kernels::sparse_mla_forward_reference(qf.data_ptr<float>(), kvf.data_ptr<float>(), idx.data_ptr<int32_t>(),
                                        out.data_ptr<float>(), lse.data_ptr<float>(), shape, static_cast<float>(scale));
  return {out.to(q.scalar_type()), lse};
}

bool sparse_mla_kernel_applies(const at::Tensor& q, int64_t d_v) {
#ifdef DSRL_CUDA
  return q.is_cuda() && q.scalar_type() == at::kBFloat16 && q.dim() >= 2 &&
         kernels::sparse_mla_cuda_supports(q.size(-2), q.size(-1), d_v);
#else
  (void)q;
  (void)d_v;
  return false;
#endif
}

bool cuda_kernels_available() {
#ifdef DSRL_CUDA
  return at::hasCUDA();
#else
  return false;
#endif
}

}  // namespace dsrl
