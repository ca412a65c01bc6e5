// Elementwise ops over flat fp32 arrays of n elements (layout-agnostic).
//   relu  y = max(x, 0)            dx = dy * [y > 0]
//   tanh  y = tanh(x)              dx = dy * (1 - y^2)
//   sigmoid y = 1/(1+e^-x)         dx = dy * y * (1 - y)
//   add   y = a + b                da = db = dy
//   mul   y = a * b                da = dy * b, db = dy * a
//   scale y = alpha * x            dx = alpha * dy
//   axpy  y += alpha * x           (in place; also how gradients are summed)
//   copy  y = x, or y += x with GradMode::kAccumulate (identity's backward)
//   fill  y = value
// The activations' backward reads the output y, not x, so only y needs to be kept.
// ReLU's derivative at exactly 0 is 0 (PyTorch's threshold backward).
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace cudarts::cpu {

void relu_fwd(float* y, const float* x, int64_t n);
void relu_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode);
void tanh_fwd(float* y, const float* x, int64_t n);
void tanh_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode);
void sigmoid_fwd(float* y, const float* x, int64_t n);
void sigmoid_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode);

void add_fwd(float* y, const float* a, const float* b, int64_t n);
void mul_fwd(float* y, const float* a, const float* b, int64_t n);
// da = dy * b (and/or db = dy * a); either output may be null.
void mul_bwd(float* da, float* db, const float* dy, const float* a, const float* b, int64_t n,
             GradMode mode_a, GradMode mode_b);
void scale_fwd(float* y, const float* x, float alpha, int64_t n);
void scale_bwd(float* dx, const float* dy, float alpha, int64_t n, GradMode mode);
void axpy(float* y, float alpha, const float* x, int64_t n);
void copy(float* y, const float* x, int64_t n, GradMode mode);
void fill(float* y, float value, int64_t n);

}  // namespace cudarts::cpu

// The same ops on a CUDA device (kernels/cuda/elementwise.cu): device pointers, the same
// arguments, and the stream to launch on. Results match cpu:: to a few ulp (tanhf and expf are
// not correctly rounded; nvcc may fuse a multiply and an add), bit for bit for relu, add, mul,
// scale, copy and fill in overwrite mode.
namespace cudarts::cuda {

void relu_fwd(float* y, const float* x, int64_t n, Stream st);
void relu_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode, Stream st);
void tanh_fwd(float* y, const float* x, int64_t n, Stream st);
void tanh_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode, Stream st);
void sigmoid_fwd(float* y, const float* x, int64_t n, Stream st);
void sigmoid_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode, Stream st);

void add_fwd(float* y, const float* a, const float* b, int64_t n, Stream st);
void mul_fwd(float* y, const float* a, const float* b, int64_t n, Stream st);
void mul_bwd(float* da, float* db, const float* dy, const float* a, const float* b, int64_t n,
             GradMode mode_a, GradMode mode_b, Stream st);
void scale_fwd(float* y, const float* x, float alpha, int64_t n, Stream st);
void scale_bwd(float* dx, const float* dy, float alpha, int64_t n, GradMode mode, Stream st);
void axpy(float* y, float alpha, const float* x, int64_t n, Stream st);
void copy(float* y, const float* x, int64_t n, GradMode mode, Stream st);
void fill(float* y, float value, int64_t n, Stream st);

}  // namespace cudarts::cuda
