// Full reductions of a flat fp32 array to one value, as differentiable ops for losses and tests.
//   sum:  y = sum_i x_i (double accumulation on the CPU)    dx_i = dy
//   mean: y = sum_i x_i / n                                  dx_i = dy / n
// y and dy are one-element arrays (device pointers on the GPU, so no host round trip).
#pragma once

#include <cstdint>
#include <span>

#include "kernels/common.h"

namespace cudarts::cpu {

void sum_fwd(float* y, const float* x, int64_t n, float scale);  // y = scale * sum(x)
void sum_bwd(float* dx, const float* dy, int64_t n, float scale, GradMode mode);

}  // namespace cudarts::cpu

// The same on a CUDA device (kernels/cuda/reduce.cu): y and dy are device pointers, so a loss
// never leaves the device. The sum runs in one block with float partial sums, deterministic for
// a given n (no atomics), so a rerun gives the same bits: on one block below 8192 values, on one
// cluster of 8 blocks from there (kernels/cuda/reduce.cu).
namespace cudarts::cuda {

void sum_fwd(float* y, const float* x, int64_t n, float scale, Stream st);
void sum_bwd(float* dx, const float* dy, int64_t n, float scale, GradMode mode, Stream st);

// sum_fwd's versions: "v1" (one block, any n) and "v2" (one 8-block cluster, n >= 8192).
using SumFwdVersion =
    FlatVersion<void(float* y, const float* x, int64_t n, float scale, Stream st)>;
std::span<const SumFwdVersion> sum_fwd_versions();

}  // namespace cudarts::cuda
