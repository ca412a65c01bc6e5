// Random fills from the counter-based Philox stream (kernels/philox.h). Element i of every fill
// depends only on (seed, offset, i), so both backends give the same numbers and a resumed run
// continues the same stream. Callers (engine/rng.h) advance `offset` after each fill.
//   uniform:   lo + (hi - lo) * u_i,                   u_i in [0, 1)
//   normal:    mean + std * z_i, Box-Muller on the pair (u_{2j}, u_{2j+1}) in double:
//              z_{2j} = r cos(t), z_{2j+1} = r sin(t), r = sqrt(-2 log(1 - u)), t = 2 pi u'
//   dropout:   mask_i = (u_i >= p) / (1 - p): keep with probability 1 - p, scaled (inverted
//              dropout, as torch.nn.Dropout and DARTS drop_path); p = 0 gives all ones.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace cudarts::cpu {

void rng_uniform(float* y, int64_t n, float lo, float hi, uint64_t seed, uint64_t offset);
void rng_normal(float* y, int64_t n, float mean, float stddev, uint64_t seed, uint64_t offset);
void dropout_mask(float* mask, int64_t n, float p, uint64_t seed, uint64_t offset);

}  // namespace cudarts::cpu

// The same fills on a CUDA device, bit-identical to cpu:: for uniform and dropout_mask and within
// the libm difference noted in kernels/philox.h for normal. Declared in every build (they need no
// CUDA header); defined only when the CUDA backend is built (kernels/cuda/rng.cu).
namespace cudarts::cuda {

void rng_uniform(float* y, int64_t n, float lo, float hi, uint64_t seed, uint64_t offset,
                 Stream st);
void rng_normal(float* y, int64_t n, float mean, float stddev, uint64_t seed, uint64_t offset,
                Stream st);
void dropout_mask(float* mask, int64_t n, float p, uint64_t seed, uint64_t offset, Stream st);

}  // namespace cudarts::cuda
