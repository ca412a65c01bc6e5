// Strided spatial sampling, NCHW fp32.
//   subsample: y[n,c,i,j] = x[n,c, off + i*stride, off + j*stride],
//              ho = ceil((h - off) / stride). With stride 2, offset 0 it is what a 1x1 conv of
//              stride 2 reads; offset 1 is FactorizedReduce's shifted branch (x[:, :, 1:, 1:]).
//              Backward scatters dy back to those positions; every other dx is zero.
//   zero:      the DARTS `none` op: y = subsample(x) * 0, so NaN/Inf in x stay NaN as in the
//              reference (x.mul(0.)); its gradient is zero and needs no kernel.
#pragma once

#include <ostream>

#include "kernels/common.h"

namespace cudarts {

struct SubsampleShape {
    int n, c, h, w;
    int stride = 2, offset = 0;
    CUDARTS_HD int ho() const { return (h - offset + stride - 1) / stride; }
    CUDARTS_HD int wo() const { return (w - offset + stride - 1) / stride; }
    int64_t in_elems() const { return int64_t(n) * c * h * w; }
    int64_t out_elems() const { return int64_t(n) * c * ho() * wo(); }
    void validate() const;
};
std::ostream& operator<<(std::ostream& os, const SubsampleShape& s);

namespace cpu {
void subsample_fwd(float* y, const float* x, const SubsampleShape& s);
// Overwrite writes zeros at the positions not sampled; accumulate leaves them alone.
void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode);
void zero_fwd(float* y, const float* x, const SubsampleShape& s);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/resample.cu), bit-identical to cpu:: (copies only):
// the cpu:: arguments plus the stream. Declared in every build, defined only with CUDA.
namespace cuda {
void subsample_fwd(float* y, const float* x, const SubsampleShape& s, Stream st);
void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode, Stream st);
void zero_fwd(float* y, const float* x, const SubsampleShape& s, Stream st);
}  // namespace cuda

}  // namespace cudarts
