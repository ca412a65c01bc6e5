// Strided spatial sampling, NCHW fp32, and the plane window it shares with zero padding.
//   subsample: y[n,c,i,j] = x[n,c, off + i*stride, off + j*stride],
//              ho = ceil((h - off) / stride). With stride 2, offset 0 it is what a 1x1 conv of
//              stride 2 reads; offset 1 is FactorizedReduce's shifted branch (x[:, :, 1:, 1:]).
//              Backward scatters dy back to those positions; every other dx is zero.
//   zero:      the DARTS `none` op: y = subsample(x) * 0, so NaN/Inf in x stay NaN as in the
//              reference (x.mul(0.)); its gradient is zero and needs no kernel.
//   window:    the copy both subsample and pad2d (kernels/pad.h) are: output (i, j) of each plane
//              shows input (row0 + i*stride, col0 + j*stride), or 0 where that is outside x.
//              subsample is the window at (offset, offset); pad2d the one at (-top, -left) with
//              stride 1. Backward gives each dx the dy of the output showing it, else 0.
#pragma once

#include <ostream>

#include "kernels/common.h"

namespace cudarts {

// planes output planes of ho x wo, each a strided window on the input plane of h x w.
struct PlaneWindow {
    int64_t planes;
    int h, w, ho, wo;
    int row0, col0, stride;
    // The output row (or column) of extent `out` that shows input row `in` when output row 0
    // shows input row `first`, or -1 when none does.
    CUDARTS_HD static int shown_at(int in, int first, int stride, int out) {
        const int d = in - first;
        return (d >= 0 && d % stride == 0 && d / stride < out) ? d / stride : -1;
    }
};
std::ostream& operator<<(std::ostream& os, const PlaneWindow& g);

struct SubsampleShape {
    int n, c, h, w;
    int stride = 2, offset = 0;
    CUDARTS_HD int ho() const { return (h - offset + stride - 1) / stride; }
    CUDARTS_HD int wo() const { return (w - offset + stride - 1) / stride; }
    int64_t in_elems() const { return int64_t(n) * c * h * w; }
    int64_t out_elems() const { return int64_t(n) * c * ho() * wo(); }
    // The window subsample copies through, after validate().
    PlaneWindow window() const {
        validate();
        return {int64_t(n) * c, h, w, ho(), wo(), offset, offset, stride};
    }
    void validate() const;
};
std::ostream& operator<<(std::ostream& os, const SubsampleShape& s);

namespace cpu {
void subsample_fwd(float* y, const float* x, const SubsampleShape& s);
// Overwrite writes zeros at the positions not sampled; accumulate leaves them alone.
void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode);
void zero_fwd(float* y, const float* x, const SubsampleShape& s);
// The window copies behind subsample and pad2d; g comes from a validated shape.
void plane_window_fwd(float* y, const float* x, const PlaneWindow& g);
void plane_window_bwd(float* dx, const float* dy, const PlaneWindow& g, GradMode mode);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/resample.cu), bit-identical to cpu:: (copies only):
// the cpu:: arguments plus the stream. Declared in every build, defined only with CUDA.
namespace cuda {
void subsample_fwd(float* y, const float* x, const SubsampleShape& s, Stream st);
void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode, Stream st);
void zero_fwd(float* y, const float* x, const SubsampleShape& s, Stream st);
void plane_window_fwd(float* y, const float* x, const PlaneWindow& g, Stream st);
void plane_window_bwd(float* dx, const float* dy, const PlaneWindow& g, GradMode mode, Stream st);
}  // namespace cuda

}  // namespace cudarts
