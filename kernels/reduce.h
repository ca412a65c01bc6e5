// Full reductions of a flat fp32 array to one value, as differentiable ops for losses and tests.
//   sum:  y = sum_i x_i (double accumulation on the CPU)    dx_i = dy
//   mean: y = sum_i x_i / n                                  dx_i = dy / n
// y and dy are one-element arrays (device pointers on the GPU, so no host round trip).
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace cudarts::cpu {

void sum_fwd(float* y, const float* x, int64_t n, float scale);  // y = scale * sum(x)
void sum_bwd(float* dx, const float* dy, int64_t n, float scale, GradMode mode);

}  // namespace cudarts::cpu
