// Every operation the binding module exposes, as free functions on Arrays, grouped by the file
// that defines (and binds) them. Operands arrive validated by micrograd's core; these functions
// still check what would otherwise crash. Op codes are those of ops.hpp.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "array.hpp"

namespace mgcpu {

// Checks shared by the floating-point kernels (nn, conv, pool, optim): a TypeError unless d is a
// floating dtype.
inline void require_float(DType d, const char* what) {
    if (!is_float(d))
        throw type_error(std::string(what) + " needs a floating dtype, got " + DTYPE_NAMES[d] +
                         "; cast with .float() first");
}
// A ValueError naming both unless b has a's dtype and shape (a state array beside a parameter).
inline void require_like(const Array& a, const Array& b, const char* what, const char* name) {
    if (a.dtype != b.dtype || a.shape != b.shape)
        throw value_error(std::string(what) + ": " + name + " is " + DTYPE_NAMES[b.dtype] + " " +
                          shape_str(b.shape) + " but param is " + DTYPE_NAMES[a.dtype] + " " +
                          shape_str(a.shape));
}
// The dtype a floating kernel computes in: 16-bit floats in float32.
inline DType float_compute(DType d) { return (d == F16 || d == BF16) ? F32 : d; }

// elementwise.cpp
// The code (ops.hpp) of a UNARY_OPS / BINARY_OPS name; value_error listing the known names.
// (The bindings probe a dict instead: this is for names read once, as fusion.cpp's programs.)
int unary_op_code(const std::string& name);
int binary_op_code(const std::string& name);
Array unary(int op, const Array& x);
Array binary(int op, const Array& a, const Array& b);   // numpy broadcasting
void binary_into(int op, Array out, const Array& a, const Array& b);   // out = a op b, in place
Array where(const Array& cond, const Array& a, const Array& b);

// copy.cpp
Array astype(const Array& x, DType dtype);
void copy_into(const Array& dst, const Array& src);     // same dtype, src broadcast to dst
Array contiguous(const Array& x);
// x itself when it already has `dtype`, else a converted copy.
inline Array astype_if(const Array& x, DType dtype) { return x.dtype == dtype ? x : astype(x, dtype); }
Array full_int(const Shape& shape, int64_t value, bool is_unsigned, DType dtype);
Array full_float(const Shape& shape, double value, DType dtype);
Array arange(double start, double stop, double step, DType dtype);

// reduce.cpp
Array reduce(int op, const Array& x, const std::vector<int>& axes, bool keepdim);
Array argreduce(bool is_max, const Array& x, int axis, bool keepdim);
Array cumsum(const Array& x, int axis);
Array topk(const Array& x, int64_t k, int axis, bool largest);

// movement.cpp
Shape broadcast_shapes(const Shape& a, const Shape& b);
Array broadcast_to(const Array& x, const Shape& shape);
Array reshape(const Array& x, const Shape& shape);
Array permute(const Array& x, const std::vector<int>& axes);
Array slice(const Array& x, const std::vector<std::array<int64_t, 3>>& key);
Array flip(const Array& x, const std::vector<int>& axes);
Array cat(const std::vector<Array>& xs, int axis);
Array take(const Array& x, const Array& indices, int axis);
Array gather(const Array& x, int axis, const Array& index);
Array scatter(const Array& x, int axis, const Array& index, const Array& src, bool accumulate);
Array nonzero(const Array& x);

// linalg.cpp
Array matmul(const Array& a, const Array& b);

// conv.cpp
Array conv2d(const Array& x, const Array& w, std::array<int64_t, 2> stride,
             std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, int64_t groups);
std::pair<Array, Array> conv2d_backward(const Array& gy, const Array& x, const Array& w,
                                        std::array<int64_t, 2> stride,
                                        std::array<int64_t, 2> padding,
                                        std::array<int64_t, 2> dilation, int64_t groups);
Array conv_transpose2d(const Array& x, const Array& w, std::array<int64_t, 2> stride,
                       std::array<int64_t, 2> padding, std::array<int64_t, 2> output_padding,
                       std::array<int64_t, 2> dilation, int64_t groups);
std::pair<Array, Array> conv_transpose2d_backward(
    const Array& gy, const Array& x, const Array& w, std::array<int64_t, 2> stride,
    std::array<int64_t, 2> padding, std::array<int64_t, 2> output_padding,
    std::array<int64_t, 2> dilation, int64_t groups);

// nn.cpp
Array activation(int op, const Array& x, double beta, double threshold);
Array softmax(const Array& x, int axis, bool log);
Array softmax_backward(const Array& grad_y, const Array& y, int axis);
Array cross_entropy(const Array& logits, const Array& target, int64_t ignore_index);
// (y, mean, invstd); with training the batch's statistics, updating running ones given in place
std::array<Array, 3> batch_norm(const Array& x, const Array* weight, const Array* bias,
                                const Array* running_mean, const Array* running_var,
                                bool training, double momentum, double eps);
// (grad_x, sum(grad_y * xhat), sum(grad_y)) per channel
std::array<Array, 3> batch_norm_backward(const Array& grad_y, const Array& x, const Array* weight,
                                         const Array& mean, const Array& invstd, bool training);
// (y, mean, rstd) over the last normalized_ndim dims (mean, rstd: those dims kept as 1)
std::array<Array, 3> layer_norm(const Array& x, const Array* weight, const Array* bias,
                                int normalized_ndim, double eps);
// (grad_x, grad_weight (none without weight), grad_bias)
std::array<std::optional<Array>, 3> layer_norm_backward(const Array& grad_y, const Array& x,
                                                        const Array* weight, const Array& mean,
                                                        const Array& rstd, int normalized_ndim);

// pool.cpp
std::pair<Array, Array> max_pool2d(const Array& x, std::array<int64_t, 2> kernel,
                                   std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                   std::array<int64_t, 2> dilation);
Array max_pool2d_backward(const Array& gy, const Array& indices, const Shape& input_shape);
Array avg_pool2d(const Array& x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                 std::array<int64_t, 2> padding, bool count_include_pad);
Array avg_pool2d_backward(const Array& gy, const Shape& input_shape,
                          std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, bool count_include_pad);
// Positions of a window of k taps spaced d apart sliding by s over an input of `in` elements
// padded by p on each side (floor division, as PyTorch); -1 when a parameter is out of range,
// the window is larger than the padded input, or the arithmetic would overflow int64.
int64_t sliding_windows(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d);

// optim.cpp
struct SgdArgs { double lr, momentum, dampening, weight_decay; bool nesterov, maximize, first_step; };
void sgd_step(const Array& param, const Array& grad, const Array* buf, const SgdArgs& a);
struct AdamArgs {
    int64_t step; double lr, beta1, beta2, eps, weight_decay;
    bool decoupled_weight_decay, amsgrad, maximize;
};
void adam_step(const Array& param, const Array& grad, const Array& m, const Array& v,
               const Array* vmax, const AdamArgs& a);

}  // namespace mgcpu
