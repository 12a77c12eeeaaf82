#include "model/kernel_ops.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/error.h"
#include "kernels/indexer.h"
#include "kernels/rmsnorm.h"
#include "kernels/sampling.h"
#include "kernels/sparse_mla.h"

#ifdef DSRL_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/indexer_cuda.h"
#include "kernels/rmsnorm_cuda.h"
#include "kernels/sampling_cuda.h"
#include "kernels/sparse_mla_cuda.h"
#endif
#include "model/kernel_tensors.h"

namespace dsrl {

#ifdef DSRL_CUDA
using kernel_tensors::aligned_contiguous;
using kernel_tensors::bf16_mut_ptr;
using kernel_tensors::bf16_ptr;
#endif

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

void check_sparse_mla_inputs(const char* fn, const at::Tensor& q, const at::Tensor& kv, const at::Tensor& indices,
                             int64_t d_v) {
  DSRL_CHECK(q.dim() == 3 && kv.dim() == 2 && indices.dim() == 2,
             "{}: expected q [N, H, d_qk], kv [T, d_qk], indices [N, K], got [{}], [{}], [{}]", fn,
             fmt::join(q.sizes(), ", "), fmt::join(kv.sizes(), ", "), fmt::join(indices.sizes(), ", "));
  DSRL_CHECK(kv.size(1) == q.size(2), "{}: kv rows have {} channels but q has {}", fn, kv.size(1), q.size(2));
  DSRL_CHECK(indices.size(0) == q.size(0), "{}: {} index rows for {} queries", fn, indices.size(0), q.size(0));
  DSRL_CHECK(d_v > 0 && d_v <= q.size(2), "{}: d_v must be in [1, {}], got {}", fn, q.size(2), d_v);
  DSRL_CHECK(indices.scalar_type() == at::kInt || indices.scalar_type() == at::kLong,
             "{}: indices must be int32 or int64, got {}", fn, c10::toString(indices.scalar_type()));
  DSRL_CHECK(q.device() == kv.device() && q.device() == indices.device(), "{}: q on {}, kv on {}, indices on {}", fn,
             q.device().str(), kv.device().str(), indices.device().str());
  DSRL_CHECK(kv.size(0) <= std::numeric_limits<int32_t>::max(), "{}: {} kv rows exceed int32", fn, kv.size(0));
}


#ifdef DSRL_CUDA
void check_sparse_mla_cuda(const char* fn, const at::Tensor& q, const at::Tensor& kv, int64_t d_v) {
  DSRL_CHECK(sparse_mla_kernel_applies(q, d_v) && kv.scalar_type() == at::kBFloat16,
             "{}: the CUDA kernel takes bf16 q and kv with heads a multiple of 16 and (d_qk, d_v) (576, 512) or "
             "(288, 256); got {} q, {} kv, {} heads, ({}, {})", fn, c10::toString(q.scalar_type()),
             c10::toString(kv.scalar_type()), q.size(1), q.size(2), d_v);
}
#endif

}  // namespace

std::pair<at::Tensor, at::Tensor> sparse_mla_forward(const at::Tensor& q, const at::Tensor& kv,
                                                     const at::Tensor& indices, int64_t d_v, double scale,
                                                     int64_t splits) {
  check_sparse_mla_inputs("sparse_mla_forward", q, kv, indices, d_v);
  DSRL_CHECK(splits >= 0 && splits <= 64, "sparse_mla_forward: splits must be in [0, 64] (0: automatic), got {}",
             splits);
  kernels::SparseMlaShape shape{q.size(0), q.size(1), kv.size(0), q.size(2), d_v, indices.size(1)};
  at::Tensor idx = kernel_tensors::int32_rows(indices, shape.n_kv);
  at::Tensor lse = at::empty({shape.s_q, shape.heads}, q.options().dtype(at::kFloat));
  if (q.is_cuda()) {
#ifdef DSRL_CUDA
    check_sparse_mla_cuda("sparse_mla_forward", q, kv, d_v);
    const c10::cuda::CUDAGuard device(q.device());
    at::Tensor qc = aligned_contiguous(q), kvc = aligned_contiguous(kv);
    at::Tensor out = at::empty({shape.s_q, shape.heads, d_v}, q.options());
    const int parts = splits > 0 ? static_cast<int>(splits) : kernels::sparse_mla_forward_splits(shape);
    at::Tensor part_out, part_lse;  // split-KV scratch
    if (parts > 1) {
      part_out = at::empty({shape.s_q, parts, shape.heads, d_v}, lse.options());
      part_lse = at::empty({shape.s_q, parts, shape.heads}, lse.options());
    }
    cudaError_t err = kernels::sparse_mla_forward_cuda(
        bf16_ptr(qc), bf16_ptr(kvc), idx.data_ptr<int32_t>(), bf16_mut_ptr(out), lse.data_ptr<float>(), shape,
        static_cast<float>(scale), at::cuda::getCurrentCUDAStream(), parts,
        parts > 1 ? part_out.data_ptr<float>() : nullptr, parts > 1 ? part_lse.data_ptr<float>() : nullptr);
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

std::pair<at::Tensor, at::Tensor> sparse_mla_backward(const at::Tensor& q, const at::Tensor& kv,
                                                      const at::Tensor& indices, const at::Tensor& out,
                                                      const at::Tensor& lse, const at::Tensor& dout, int64_t d_v,
                                                      double scale) {
  const char* fn = "sparse_mla_backward";
  check_sparse_mla_inputs(fn, q, kv, indices, d_v);
  kernels::SparseMlaShape shape{q.size(0), q.size(1), kv.size(0), q.size(2), d_v, indices.size(1)};
  const std::vector<int64_t> out_shape = {shape.s_q, shape.heads, d_v}, lse_shape = {shape.s_q, shape.heads};
  DSRL_CHECK(out.sizes() == out_shape && dout.sizes() == out_shape, "{}: out and dout must be [{}], got [{}] and [{}]",
             fn, fmt::join(out_shape, ", "), fmt::join(out.sizes(), ", "), fmt::join(dout.sizes(), ", "));
  DSRL_CHECK(lse.sizes() == lse_shape && lse.scalar_type() == at::kFloat, "{}: lse must be fp32 [{}], got {} [{}]", fn,
             fmt::join(lse_shape, ", "), c10::toString(lse.scalar_type()), fmt::join(lse.sizes(), ", "));
  DSRL_CHECK(out.device() == q.device() && dout.device() == q.device() && lse.device() == q.device(),
             "{}: q on {} but out on {}, dout on {}, lse on {}", fn, q.device().str(), out.device().str(),
             dout.device().str(), lse.device().str());
  at::Tensor idx = kernel_tensors::int32_rows(indices, shape.n_kv);
  if (q.is_cuda()) {
#ifdef DSRL_CUDA
    check_sparse_mla_cuda(fn, q, kv, d_v);
    const c10::cuda::CUDAGuard device(q.device());
    at::Tensor qc = aligned_contiguous(q), kvc = aligned_contiguous(kv), lc = lse.contiguous();
    at::Tensor oc = out.to(at::kBFloat16).contiguous(), gc = aligned_contiguous(dout.to(at::kBFloat16));
    at::Tensor dq = at::empty_like(qc), dkv = at::empty({shape.n_kv, shape.d_qk}, lse.options());
    cudaError_t err = kernels::sparse_mla_backward_cuda(bf16_ptr(qc), bf16_ptr(kvc), idx.data_ptr<int32_t>(),
                                                        bf16_ptr(oc), bf16_ptr(gc), lc.data_ptr<float>(),
                                                        bf16_mut_ptr(dq), dkv.data_ptr<float>(), shape,
                                                        static_cast<float>(scale), at::cuda::getCurrentCUDAStream());
    DSRL_CHECK(err == cudaSuccess, "sparse_mla_backward_cuda failed: {}", cudaGetErrorString(err));
    return {dq, dkv.to(kv.scalar_type())};
#else
    DSRL_FAIL("{}: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)", fn);
#endif
  }
  auto f32 = [](const at::Tensor& t) { return t.to(at::kFloat).contiguous(); };
  at::Tensor qf = f32(q), kvf = f32(kv), of = f32(out), gf = f32(dout), lf = f32(lse);
  at::Tensor dq = at::empty_like(qf), dkv = at::empty_like(kvf);
  kernels::sparse_mla_backward_reference(qf.data_ptr<float>(), kvf.data_ptr<float>(), idx.data_ptr<int32_t>(),
                                         of.data_ptr<float>(), gf.data_ptr<float>(), lf.data_ptr<float>(),
                                         dq.data_ptr<float>(), dkv.data_ptr<float>(), shape, static_cast<float>(scale));
  return {dq.to(q.scalar_type()), dkv.to(kv.scalar_type())};
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

namespace {

void check_indexer_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& w, const at::Tensor& key_end,
                          const at::Tensor& k_scale) {
  DSRL_CHECK(q.dim() == 4 && k.dim() == 3 && w.dim() == 3 && key_end.dim() == 2,
             "indexer: expected q [B, S, H, D], k [B, T, D], w [B, S, H], key_end [B, S], got [{}], [{}], [{}], [{}]",
             fmt::join(q.sizes(), ", "), fmt::join(k.sizes(), ", "), fmt::join(w.sizes(), ", "),
             fmt::join(key_end.sizes(), ", "));
  const int64_t B = q.size(0), S = q.size(1), H = q.size(2), D = q.size(3);
  DSRL_CHECK(k.size(0) == B && k.size(2) == D, "indexer: k must be [{}, T, {}], got [{}]", B, D,
             fmt::join(k.sizes(), ", "));
  DSRL_CHECK(w.size(0) == B && w.size(1) == S && w.size(2) == H, "indexer: w must be [{}, {}, {}], got [{}]", B, S, H,
             fmt::join(w.sizes(), ", "));
  DSRL_CHECK(key_end.size(0) == B && key_end.size(1) == S, "indexer: key_end must be [{}, {}], got [{}]", B, S,
             fmt::join(key_end.sizes(), ", "));
  DSRL_CHECK(key_end.scalar_type() == at::kInt || key_end.scalar_type() == at::kLong,
             "indexer: key_end must be int32 or int64, got {}", c10::toString(key_end.scalar_type()));
  DSRL_CHECK(q.device() == k.device() && q.device() == w.device() && q.device() == key_end.device(),
             "indexer: q on {}, k on {}, w on {}, key_end on {}", q.device().str(), k.device().str(),
             w.device().str(), key_end.device().str());
  DSRL_CHECK(k.size(1) <= std::numeric_limits<int32_t>::max(), "indexer: {} keys exceed int32", k.size(1));
  const bool fp8 = q.scalar_type() == at::kFloat8_e4m3fn;
  DSRL_CHECK(fp8 == (k.scalar_type() == at::kFloat8_e4m3fn) && fp8 == k_scale.defined(),
             "indexer: FP8 takes e4m3 q and k with k_scale, other dtypes neither; got {} q, {} k and {} k_scale",
             c10::toString(q.scalar_type()), c10::toString(k.scalar_type()), k_scale.defined() ? "a" : "no");
  if (!fp8) return;
  DSRL_CHECK(k_scale.sizes() == at::IntArrayRef({B, k.size(1)}) && k_scale.scalar_type() == at::kFloat,
             "indexer: k_scale must be fp32 [{}, {}], got {} [{}]", B, k.size(1), c10::toString(k_scale.scalar_type()),
             fmt::join(k_scale.sizes(), ", "));
  DSRL_CHECK(k_scale.device() == k.device(), "indexer: k on {} but k_scale on {}", k.device().str(),
             k_scale.device().str());
}

kernels::IndexerShape indexer_shape(const at::Tensor& q, const at::Tensor& k) {
  return {q.size(0), q.size(1), k.size(1), q.size(2), q.size(3)};
}

// key_end as int32 in [0, T] (int64 values past int32 would otherwise wrap).
at::Tensor key_ends(const at::Tensor& key_end, int64_t keys) {
  return key_end.clamp(0, keys).to(at::kInt).contiguous();
}

// The reference's fp32 operands: FP8 values dequantised (exactly: the scales are powers of two).
std::pair<at::Tensor, at::Tensor> indexer_fp32_operands(const at::Tensor& q, const at::Tensor& k,
                                                        const at::Tensor& k_scale) {
  at::Tensor kf = k.to(at::kFloat);
  if (k_scale.defined()) kf = kf * k_scale.unsqueeze(-1);
  return {q.to(at::kFloat).contiguous(), kf.contiguous()};
}

#ifdef DSRL_CUDA
void check_indexer_cuda(const at::Tensor& q, const at::Tensor& k) {
  DSRL_CHECK(indexer_kernel_applies(q) && (k.scalar_type() == at::kBFloat16 || k.scalar_type() == at::kFloat8_e4m3fn),
             "indexer: the CUDA kernel takes bf16 or e4m3 q and k with 8, 16, 32 or 64 heads of 64 or 128 channels; "
             "got {} q, {} k, {} heads of {}", c10::toString(q.scalar_type()), c10::toString(k.scalar_type()),
             q.size(2), q.size(3));
}

// k_scale as the FP8 kernel reads it (undefined stays undefined: bf16).
at::Tensor scale_operand(const at::Tensor& k_scale) { return k_scale.defined() ? k_scale.contiguous() : k_scale; }

// Logits of queries [s_begin, s_begin + s_count) into out [B, s_count, T]; FP8 when k_scale is defined.
void indexer_logits_cuda_rows(const at::Tensor& q, const at::Tensor& k, const at::Tensor& k_scale,
                              const at::Tensor& w, const at::Tensor& ends, int64_t s_begin, int64_t s_count,
                              at::Tensor& out) {
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err =
      k_scale.defined()
          ? kernels::indexer_logits_fp8_cuda(static_cast<const uint8_t*>(q.data_ptr()),
                                             static_cast<const uint8_t*>(k.data_ptr()), k_scale.data_ptr<float>(),
                                             w.data_ptr<float>(), ends.data_ptr<int32_t>(), out.data_ptr<float>(),
                                             indexer_shape(q, k), s_begin, s_count, stream)
          : kernels::indexer_logits_cuda(static_cast<const __nv_bfloat16*>(q.data_ptr()),
                                         static_cast<const __nv_bfloat16*>(k.data_ptr()), w.data_ptr<float>(),
                                         ends.data_ptr<int32_t>(), out.data_ptr<float>(), indexer_shape(q, k),
                                         s_begin, s_count, stream);
  DSRL_CHECK(err == cudaSuccess, "indexer_logits_cuda failed: {}", cudaGetErrorString(err));
}

void topk_positions_cuda_rows(const at::Tensor& logits, int64_t rows, int64_t n, int64_t k, const int32_t* row_ends,
                              int32_t* out) {
  cudaError_t err = kernels::topk_positions_cuda(logits.data_ptr<float>(), rows, n, k, row_ends, out,
                                                 at::cuda::getCurrentCUDAStream());
  DSRL_CHECK(err == cudaSuccess, "topk_positions_cuda failed: {}", cudaGetErrorString(err));
}
#endif

}  // namespace

at::Tensor indexer_logits(const at::Tensor& q, const at::Tensor& k, const at::Tensor& w, const at::Tensor& key_end,
                          const at::Tensor& k_scale) {
  check_indexer_inputs(q, k, w, key_end, k_scale);
  const kernels::IndexerShape shape = indexer_shape(q, k);
  at::Tensor ends = key_ends(key_end, k.size(1)), wf = w.to(at::kFloat).contiguous();
  at::Tensor out = at::empty({shape.batch, shape.s_q, shape.n_keys}, q.options().dtype(at::kFloat));
  if (q.is_cuda()) {
#ifdef DSRL_CUDA
    check_indexer_cuda(q, k);
    const c10::cuda::CUDAGuard device(q.device());
    indexer_logits_cuda_rows(aligned_contiguous(q), aligned_contiguous(k), scale_operand(k_scale), wf, ends, 0,
                             shape.s_q, out);
    return out;
#else
    DSRL_FAIL("indexer_logits: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)");
#endif
  }
  DSRL_CHECK(!k_scale.defined() || (k_scale > 0).all().item<bool>(),
             "indexer: k_scale must be positive (the kernels apply it after the ReLU)");
  auto [qf, kf] = indexer_fp32_operands(q, k, k_scale);
  kernels::indexer_logits_reference(qf.data_ptr<float>(), kf.data_ptr<float>(), wf.data_ptr<float>(),
                                    ends.data_ptr<int32_t>(), out.data_ptr<float>(), shape);
  return out;
}

at::Tensor topk_positions(const at::Tensor& logits, int64_t k) {
  DSRL_CHECK(logits.dim() >= 1 && logits.scalar_type() == at::kFloat,
             "topk_positions: expected fp32 logits [..., n], got {} [{}]", c10::toString(logits.scalar_type()),
             fmt::join(logits.sizes(), ", "));
  DSRL_CHECK(k >= 0 && k <= 65536, "topk_positions: k must be in [0, 65536], got {}", k);
  at::Tensor x = logits.contiguous();
  const int64_t n = x.size(-1), rows = n == 0 ? 0 : x.numel() / n;
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.back() = k;
  at::Tensor out = at::empty(sizes, x.options().dtype(at::kInt));
  if (n == 0) return out.fill_(-1);
  if (x.is_cuda()) {
#ifdef DSRL_CUDA
    const c10::cuda::CUDAGuard device(x.device());
    topk_positions_cuda_rows(x, rows, n, k, nullptr, out.data_ptr<int32_t>());
    return out;
#else
    DSRL_FAIL("topk_positions: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)");
#endif
  }
  kernels::topk_positions_reference(x.data_ptr<float>(), rows, n, k, out.data_ptr<int32_t>());
  return out;
}

at::Tensor indexer_topk(const at::Tensor& q, const at::Tensor& k, const at::Tensor& w, const at::Tensor& key_end,
                        int64_t topk, const at::Tensor& k_scale) {
  check_indexer_inputs(q, k, w, key_end, k_scale);
  DSRL_CHECK(topk >= 0 && topk <= 65536, "indexer_topk: topk must be in [0, 65536], got {}", topk);
  DSRL_CHECK(q.is_cuda(), "indexer_topk: the chunked selection runs on CUDA tensors only, got {}", q.device().str());
#ifdef DSRL_CUDA
  check_indexer_cuda(q, k);
  const c10::cuda::CUDAGuard device(q.device());
  const int64_t B = q.size(0), S = q.size(1), T = k.size(1);
  at::Tensor qc = aligned_contiguous(q), kc = aligned_contiguous(k), wf = w.to(at::kFloat).contiguous();
  at::Tensor ends = key_ends(key_end, T), kscale = scale_operand(k_scale);
  at::Tensor out = at::empty({B, S, topk}, q.options().dtype(at::kInt));
  if (T == 0 || S == 0 || B == 0) return out.fill_(-1);
  // Chunks of queries whose logits take at most 256 MiB: the [B, S, T] matrix is never stored whole.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(S, (int64_t{64} << 20) / (B * T)));
  at::Tensor logits = at::empty({B, chunk, T}, q.options().dtype(at::kFloat));
  for (int64_t s0 = 0; s0 < S; s0 += chunk) {
    const int64_t count = std::min(chunk, S - s0);
    at::Tensor view = logits.view(-1).narrow(0, 0, B * count * T).view({B, count, T});  // contiguous
    indexer_logits_cuda_rows(qc, kc, kscale, wf, ends, s0, count, view);
    at::Tensor picked = at::empty({B, count, topk}, out.options());
    at::Tensor row_ends = ends.narrow(1, s0, count).contiguous();  // past these the logits are -inf
    topk_positions_cuda_rows(view, B * count, T, topk, row_ends.data_ptr<int32_t>(), picked.data_ptr<int32_t>());
    out.narrow(1, s0, count).copy_(picked);
  }
  return out;
#else
  DSRL_FAIL("indexer_topk: this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)");
#endif
}

bool indexer_kernel_applies(const at::Tensor& q) {
#ifdef DSRL_CUDA
  const bool dtype_runs = q.scalar_type() == at::kBFloat16 ||
                          (q.scalar_type() == at::kFloat8_e4m3fn && kernels::indexer_fp8_device());
  return q.is_cuda() && dtype_runs && q.dim() >= 2 &&
         kernels::indexer_cuda_supports(q.size(-2), q.size(-1));
#else
  (void)q;
  return false;
#endif
}

SampledBits sample_fused(const at::Tensor& logits, const at::Tensor& uniforms, double temperature, int64_t top_k,
                         double top_p, int64_t vocab_limit) {
  DSRL_CHECK(logits.dim() == 2 && logits.size(1) > 0, "sample_fused: logits must be [B, V] with V > 0, got [{}]",
             fmt::join(logits.sizes(), ", "));
  const int64_t B = logits.size(0), V = logits.size(1);
  DSRL_CHECK(uniforms.dim() == 1 && uniforms.size(0) == B, "sample_fused: one uniform per row: expected [{}], got [{}]",
             B, fmt::join(uniforms.sizes(), ", "));
  DSRL_CHECK(temperature >= 0, "temperature must be >= 0, got {}", temperature);
  DSRL_CHECK(top_p >= 0 && top_p <= 1, "top_p must be in [0, 1], got {}", top_p);
  DSRL_CHECK(top_k >= 0, "top_k must be >= 0, got {}", top_k);
  DSRL_CHECK(vocab_limit >= 0 && vocab_limit <= V, "vocab_limit must be in [0, {}] (0: off), got {}", V, vocab_limit);
  const kernels::SamplingSpec spec{static_cast<float>(temperature), top_k, static_cast<float>(top_p), vocab_limit};
  at::Tensor x = logits.to(at::kFloat).contiguous();
  at::Tensor u = uniforms.to(x.device(), at::kDouble).contiguous();
  SampledBits out;
  out.tokens = at::empty({B}, x.options().dtype(at::kLong));
  out.logprobs = at::empty({B}, x.options());
  out.kept_bits = at::empty({B, (V + 7) / 8}, x.options().dtype(at::kByte));
  if (x.is_cuda()) {
#ifdef DSRL_CUDA
    const c10::cuda::CUDAGuard device(x.device());
    cudaError_t err = kernels::sample_cuda(x.data_ptr<float>(), u.data_ptr<double>(), B, V, spec,
                                           out.tokens.data_ptr<int64_t>(), out.logprobs.data_ptr<float>(),
                                           out.kept_bits.data_ptr<uint8_t>(), at::cuda::getCurrentCUDAStream());
    DSRL_CHECK(err == cudaSuccess, "sample_cuda failed: {}", cudaGetErrorString(err));
    return out;
#else
    DSRL_FAIL("sample_fused: CUDA tensor given but this build has no CUDA kernels (configure with -DDSRL_CUDA=ON)");
#endif
  }
  kernels::sample_reference(x.data_ptr<float>(), u.data_ptr<double>(), B, V, spec, out.tokens.data_ptr<int64_t>(),
                            out.logprobs.data_ptr<float>(), out.kept_bits.data_ptr<uint8_t>());
  return out;
}

bool cuda_kernels_available() {
#ifdef DSRL_CUDA
  return at::hasCUDA();
#else
  return false;
#endif
}

}  // namespace dsrl
