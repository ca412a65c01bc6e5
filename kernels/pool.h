// Pooling, NCHW fp32: square max/avg windows and the global average pool.
//   max:  y = max over in-image taps of the window (padding acts as -inf, as in torch MaxPool2d).
//   avg:  y = mean over the in-image taps only (count_include_pad=False): a 3x3 window with
//         padding 1 divides by 4 in the corners, 6 on the edges and 9 inside.
//   global average: y[n,c] = mean over h*w of x[n,c,:,:].
// Backward: max routes dy to the first maximal tap in row-major window order (recomputed from x,
// no index buffer); avg spreads dy / count over the same taps; global spreads dy / (h*w).
// Matches torch MaxPool2d(k, s, p), AvgPool2d(k, s, p, count_include_pad=False),
// AdaptiveAvgPool2d(1). Output size floor((h + 2p - k) / s) + 1; no ceil mode.
#pragma once

#include <ostream>

#include "kernels/common.h"

namespace cudarts {

struct Pool2dShape {
    int n, c, h, w;      // input, NCHW
    int k, stride, pad;  // square window: every DARTS pool is square

    CUDARTS_HD int ho() const { return (h + 2 * pad - k) / stride + 1; }
    CUDARTS_HD int wo() const { return (w + 2 * pad - k) / stride + 1; }
    int64_t in_elems() const { return int64_t(n) * c * h * w; }
    int64_t out_elems() const { return int64_t(n) * c * ho() * wo(); }
    double bytes_fwd() const { return 4.0 * (in_elems() + out_elems()); }
    void validate() const;  // throws Error naming the offending field
};
std::ostream& operator<<(std::ostream& os, const Pool2dShape& s);

namespace cpu {
void max_pool2d_fwd(float* y, const float* x, const Pool2dShape& s);
void max_pool2d_bwd(float* dx, const float* dy, const float* x, const Pool2dShape& s,
                    GradMode mode);
void avg_pool2d_fwd(float* y, const float* x, const Pool2dShape& s);
void avg_pool2d_bwd(float* dx, const float* dy, const Pool2dShape& s, GradMode mode);

// x (n, c, hw) -> y (n, c)
void global_avg_pool_fwd(float* y, const float* x, int n, int c, int hw);
void global_avg_pool_bwd(float* dx, const float* dy, int n, int c, int hw, GradMode mode);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/pool.cu), same numbers up to float summation order:
// the cpu:: arguments plus the stream. Declared in every build, defined only with CUDA.
namespace cuda {
void max_pool2d_fwd(float* y, const float* x, const Pool2dShape& s, Stream st);
void max_pool2d_bwd(float* dx, const float* dy, const float* x, const Pool2dShape& s, GradMode mode,
                    Stream st);
void avg_pool2d_fwd(float* y, const float* x, const Pool2dShape& s, Stream st);
void avg_pool2d_bwd(float* dx, const float* dy, const Pool2dShape& s, GradMode mode, Stream st);
void global_avg_pool_fwd(float* y, const float* x, int n, int c, int hw, Stream st);
void global_avg_pool_bwd(float* dx, const float* dy, int n, int c, int hw, GradMode mode,
                         Stream st);
}  // namespace cuda

}  // namespace cudarts
