// Sparse training's indexer-KL target over the selected keys (kernels/attention_target.h): the checked wrapper of
// the CUDA kernels and the C++ reference.
#include <ATen/ATen.h>

#include <limits>

#include "common/error.h"
#include "kernels/attention_target.h"
#include "model/kernel_ops.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/attention_target_cuda.h"
#endif
#include "model/kernel_tensors.h"

namespace dsrl {
namespace {

constexpr const char* kFn = "selected_target_forward";

kernels::SelectedTargetShape checked_shape(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& key_end,
                                           const at::Tensor& topk) {
  DSRL_CHECK(q.dim() == 4 && kv.dim() == 3 && key_end.dim() == 2 && topk.dim() == 3,
             "{}: expected q [B, S, H, W], kv [B, T, W], key_end [B, S], topk [B, S, K], got [{}], [{}], [{}], [{}]",
             kFn, fmt::join(q.sizes(), ", "), fmt::join(kv.sizes(), ", "), fmt::join(key_end.sizes(), ", "),
             fmt::join(topk.sizes(), ", "));
  const int64_t B = q.size(0), S = q.size(1);
  DSRL_CHECK(kv.size(0) == B && key_end.size(0) == B && key_end.size(1) == S && topk.size(0) == B &&
                 topk.size(1) == S,
             "{}: kv [{}], key_end [{}] and topk [{}] must match q's {} sequences x {} queries", kFn,
             fmt::join(kv.sizes(), ", "), fmt::join(key_end.sizes(), ", "), fmt::join(topk.sizes(), ", "), B, S);
  DSRL_CHECK(kv.size(2) == q.size(3), "{}: kv rows have {} channels but q has {}", kFn, kv.size(2), q.size(3));
  for (const at::Tensor* t : {&key_end, &topk})
    DSRL_CHECK(t->scalar_type() == at::kInt || t->scalar_type() == at::kLong,
               "{}: key_end and topk must be int32 or int64, got {}", kFn, c10::toString(t->scalar_type()));
  DSRL_CHECK(q.device() == kv.device() && q.device() == key_end.device() && q.device() == topk.device(),
             "{}: q on {}, kv on {}, key_end on {}, topk on {}", kFn, q.device().str(), kv.device().str(),
             key_end.device().str(), topk.device().str());
  DSRL_CHECK(kv.size(1) < std::numeric_limits<int32_t>::max(), "{}: {} keys per sequence exceed int32", kFn,
             kv.size(1));
  DSRL_CHECK(topk.size(2) <= (int64_t{1} << 30), "{}: top-{} exceeds the 2^30 selected keys a query may have", kFn,
             topk.size(2));
  return {B, S, q.size(2), kv.size(1), q.size(3), topk.size(2)};
}

// key_end as the kernels and the reference take it: int32, clamped to [0, T].
at::Tensor int32_key_end(const at::Tensor& key_end, int64_t T) {
  return key_end.clamp(0, T).to(at::kInt).contiguous();
}

}  // namespace

SelectedTarget selected_target_forward(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& key_end,
                                       const at::Tensor& topk, double scale) {
  const kernels::SelectedTargetShape shape = checked_shape(q, kv, key_end, topk);
  at::Tensor ends = int32_key_end(key_end, shape.n_kv), sel = kernel_tensors::int32_rows(topk, shape.n_kv);
  const at::TensorOptions f32 = q.options().dtype(at::kFloat);
  SelectedTarget out{at::empty({shape.batch, shape.s_q, shape.topk}, f32), at::empty({shape.batch, shape.s_q}, f32),
                     at::empty({shape.batch, shape.s_q, shape.heads}, f32),
                     at::empty({shape.batch, shape.s_q, shape.heads}, f32)};
  const kernels::SelectedTargetOut raw{out.probs.data_ptr<float>(), out.recall.data_ptr<float>(),
                                       out.lse_causal.data_ptr<float>(), out.lse_selected.data_ptr<float>()};
  if (q.is_cuda()) {
#ifdef DSRL_CUDA
    DSRL_CHECK(selected_target_kernel_applies(q, kv),
               "{}: the CUDA kernels take bf16 q and kv with heads a multiple of 16 and 288 or 576 channels; got {} "
               "q, {} kv, {} heads of {}", kFn, c10::toString(q.scalar_type()), c10::toString(kv.scalar_type()),
               shape.heads, shape.dim);
    DSRL_CHECK(shape.batch <= 65535 && shape.s_q * shape.heads <= std::numeric_limits<int32_t>::max(),
               "{}: the CUDA kernels take at most 65,535 sequences and 2^31 (query, head) rows a sequence, got {} "
               "sequences of {} x {}", kFn, shape.batch, shape.s_q, shape.heads);
    const c10::cuda::CUDAGuard device(q.device());
    at::Tensor qc = kernel_tensors::aligned_contiguous(q), kvc = kernel_tensors::aligned_contiguous(kv);
    cudaError_t err = kernels::selected_target_cuda(kernel_tensors::bf16_ptr(qc), kernel_tensors::bf16_ptr(kvc),
                                                    ends.data_ptr<int32_t>(), sel.data_ptr<int32_t>(), raw, shape,
                                                    static_cast<float>(scale), at::cuda::getCurrentCUDAStream());
    DSRL_CHECK(err == cudaSuccess, "selected_target_cuda failed: {}", cudaGetErrorString(err));
    return out;
#else
    DSRL_FAIL("{}: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)", kFn);
#endif
  }
  at::Tensor qf = q.to(at::kFloat).contiguous(), kvf = kv.to(at::kFloat).contiguous();
  kernels::selected_target_reference(qf.data_ptr<float>(), kvf.data_ptr<float>(), ends.data_ptr<int32_t>(),
                                     sel.data_ptr<int32_t>(), raw, shape, static_cast<float>(scale));
  return out;
}

bool selected_target_kernel_applies(const at::Tensor& q, const at::Tensor& kv) {
#ifdef DSRL_CUDA
  return q.is_cuda() && q.scalar_type() == at::kBFloat16 && kv.scalar_type() == at::kBFloat16 && q.dim() >= 2 &&
         kernels::selected_target_cuda_supports(q.size(-2), q.size(-1));
#else
  (void)q;
  (void)kv;
  return false;
#endif
}

}  // namespace dsrl
