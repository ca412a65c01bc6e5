// Reference full reductions (kernels/reduce.h): a double accumulator keeps the sum of a
// million floats exact to float precision.
#include "kernels/reduce.h"

namespace cudarts::cpu {

void sum_fwd(float* y, const float* x, int64_t n, float scale) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += x[i];
    y[0] = float(s * scale);
}

void sum_bwd(float* dx, const float* dy, int64_t n, float scale, GradMode mode) {
    const float g = dy[0] * scale;
    for (int64_t i = 0; i < n; ++i) write_grad(dx[i], g, mode);
}

}  // namespace cudarts::cpu
