// Broadcast multiply by a mask, the arithmetic of every dropout variant in DARTS:
//   y[o, m, i] = x[o, m, i] * mask[m]      for x viewed as (outer, mid, inner)
//   dx = dy * mask (broadcast the same way); the mask is a constant and gets no gradient.
// Plain dropout:            outer = 1, mid = numel, inner = 1
// Per-sample drop path:     outer = 1, mid = N,     inner = C*H*W   (mask of shape (N,1,1,1))
// Locked (variational) RNN: outer = T, mid = B*D,   inner = 1       (one mask for all steps)
// Embedding dropout:        the table (vocab, dim): outer = 1, mid = vocab, inner = dim
// Masks come from cpu::dropout_mask (kernels/rng.h): 0 or 1/(1-p).
#pragma once

#include <cstdint>
#include <ostream>

#include "kernels/common.h"

namespace cudarts {

struct BroadcastShape {
    int64_t outer, mid, inner;
    int64_t elems() const { return outer * mid * inner; }
    void validate() const;  // throws Error naming the negative extent
};
std::ostream& operator<<(std::ostream& os, const BroadcastShape& s);

namespace cpu {
void broadcast_mul_fwd(float* y, const float* x, const float* mask, const BroadcastShape& s);
void broadcast_mul_bwd(float* dx, const float* dy, const float* mask, const BroadcastShape& s,
                       GradMode mode);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/dropout.cu); x, y, mask, dx and dy are device pointers.
// A product has one rounding, so results equal cpu:: bit for bit in overwrite mode.
namespace cuda {
void broadcast_mul_fwd(float* y, const float* x, const float* mask, const BroadcastShape& s,
                       Stream st);
void broadcast_mul_bwd(float* dx, const float* dy, const float* mask, const BroadcastShape& s,
                       GradMode mode, Stream st);
}  // namespace cuda

}  // namespace cudarts
