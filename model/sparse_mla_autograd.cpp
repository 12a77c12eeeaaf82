// sparse_mla_attention: the sparse MLA kernels (forward and backward, model/kernel_ops.h) as one autograd op.
#include <torch/csrc/autograd/custom_function.h>

#include "model/kernel_ops.h"

namespace dsrl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct SparseMlaFunction : torch::autograd::Function<SparseMlaFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& kv, const at::Tensor& indices,
                            int64_t d_v, double scale) {
    auto [out, lse] = sparse_mla_forward(q, kv, indices, d_v, scale);
    ctx->save_for_backward({q, kv, indices, out, lse});
    ctx->saved_data["d_v"] = d_v;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    auto [dq, dkv] = sparse_mla_backward(saved[0], saved[1], saved[2], saved[3], saved[4], grads[0],
                                         ctx->saved_data["d_v"].toInt(), ctx->saved_data["scale"].toDouble());
    return {dq, dkv, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor sparse_mla_attention(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& indices, int64_t d_v,
                                double scale) {
  return SparseMlaFunction::apply(q, kv, indices, d_v, scale);
}

}  // namespace dsrl
