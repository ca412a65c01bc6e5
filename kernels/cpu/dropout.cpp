// Broadcast multiply by a mask, the reference for kernels/dropout.h: x viewed as
// (outer, mid, inner) is scaled by mask[m] along the middle axis. The three loops spell the
// indexing out so that each dropout variant (plain, per-sample drop path, locked RNN dropout,
// embedding rows) is visibly the same arithmetic with different extents. The mask is a constant
// of the forward pass (drawn by cpu::dropout_mask), so backward is the same product and the mask
// gets no gradient.
#include "kernels/dropout.h"

#include <ostream>

#include "kernels/check.h"

namespace cudarts {

std::ostream& operator<<(std::ostream& os, const BroadcastShape& s) {
    return os << "BroadcastShape{outer=" << s.outer << " mid=" << s.mid << " inner=" << s.inner
              << "}";
}

void BroadcastShape::validate() const {
    CUDARTS_CHECK(outer >= 0, "BroadcastShape: outer must be >= 0 in " << *this);
    CUDARTS_CHECK(mid >= 0, "BroadcastShape: mid must be >= 0 in " << *this);
    CUDARTS_CHECK(inner >= 0, "BroadcastShape: inner must be >= 0 in " << *this);
}

namespace cpu {

void broadcast_mul_fwd(float* y, const float* x, const float* mask, const BroadcastShape& s) {
    s.validate();
    for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t m = 0; m < s.mid; ++m) {
            const int64_t base = (o * s.mid + m) * s.inner;
            for (int64_t i = 0; i < s.inner; ++i) y[base + i] = x[base + i] * mask[m];
        }
}

void broadcast_mul_bwd(float* dx, const float* dy, const float* mask, const BroadcastShape& s,
                       GradMode mode) {
    s.validate();
    for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t m = 0; m < s.mid; ++m) {
            const int64_t base = (o * s.mid + m) * s.inner;
            for (int64_t i = 0; i < s.inner; ++i)
                write_grad(dx[base + i], dy[base + i] * mask[m], mode);
        }
}

}  // namespace cpu

}  // namespace cudarts
