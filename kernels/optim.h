// Optimizer updates over flat parameter buffers (DESIGN decision 3: one call per buffer).
//   SGD (PyTorch, no dampening, no Nesterov):  d = g + wd*w;  buf = d on the first step, else
//       buf = momentum*buf + d;  w -= lr*buf.  momentum = 0 skips the buffer.
//   Adam (PyTorch 0.3.1, coupled L2):  g += wd*theta; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//       theta -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps),  t >= 1.
//   sum_squares: sum of x_i^2 in double, for gradient-norm clipping and the architect's ||dw||.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/common.h"

namespace cudarts {

struct SgdOptions {
    float lr, momentum = 0.f, weight_decay = 0.f;
};
struct AdamOptions {
    float lr, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.f;
};

namespace cpu {
void sgd_step(float* w, float* buf, const float* g, int64_t n, const SgdOptions& o,
              bool first_step);
void adam_step(float* theta, float* m, float* v, const float* g, int64_t n, const AdamOptions& o,
               int64_t t);
double sum_squares(const float* x, int64_t n);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/optim.cu); every array is a device pointer. The
// updates round each operation as the CPU loop does (no fused multiply-add), so they match
// cpu:: bit for bit when the host compiler does not contract either. sum_squares writes one float
// to the device, summed in float by one block (v1) or, from 8192 values, one cluster of 8 blocks
// (v2): deterministic, no atomics.
namespace cuda {
void sgd_step(float* w, float* buf, const float* g, int64_t n, const SgdOptions& o, bool first_step,
              Stream st);
void adam_step(float* theta, float* m, float* v, const float* g, int64_t n, const AdamOptions& o,
               int64_t t, Stream st);
void sum_squares(float* out, const float* x, int64_t n, Stream st);

// sum_squares's versions, for the tests and the benchmark: "v1" (one block, any n) and "v2" (one
// 8-block cluster, n >= 8192).
using SumSquaresVersion = FlatVersion<void(float* out, const float* x, int64_t n, Stream st)>;
std::span<const SumSquaresVersion> sum_squares_versions();
}  // namespace cuda

}  // namespace cudarts
