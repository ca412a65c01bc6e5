// Strided sampling on the GPU, NCHW fp32: the CUDA twins of kernels/cpu/resample.cpp.
// Forward (subsample, zero): one thread per output reads x at (offset + i*stride,
// offset + j*stride). zero multiplies that sample by 0 instead of storing 0, as the reference
// x.mul(0.) does, so NaN and Inf in x come out NaN (nvcc without fast-math keeps x * 0.f).
// Backward is a gather over dx, one thread per input element: it either is a sampled position and
// takes its dy, or gets 0; each dx element is written exactly once, so overwrite needs no clearing
// pass and accumulate adds 0 where nothing was sampled.
// Traffic: forward reads one float of x per output and writes y once (8 B per output; at stride
// 2 a 32 B sector of x holds only four sampled floats, so DRAM moves twice what is used);
// backward reads dy once and writes dx once (plus dx read in accumulate). Bandwidth-bound.
//   v1  one thread per output (fwd) or per input (bwd), a direct port (the only version)
#include <climits>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/resample.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;

// Offset of output o's sample in x: plane o / (ho*wo), row i, column j of the output plane.
__device__ int64_t sample_offset(const SubsampleShape& s, int64_t o) {
    const int wo = s.wo();
    const int out_plane = s.ho() * wo;
    const int64_t p = o / out_plane;
    const int r = int(o - p * out_plane);
    const int i = r / wo, j = r - i * wo;
    return p * s.h * s.w + int64_t(s.offset + i * s.stride) * s.w + s.offset + j * s.stride;
}

// The output row (or column) that samples input row ih, or -1 when none does.
__device__ int sampled_by(int ih, const SubsampleShape& s) {
    const int d = ih - s.offset;
    return (d >= 0 && d % s.stride == 0) ? d / s.stride : -1;
}

// One thread per output: y = x at its sample, times 0 for zero (kZero: NaN and Inf give NaN,
// negatives -0).
template <bool kZero>
__global__ void __launch_bounds__(kBlock)
    sample_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, SubsampleShape s,
                         int64_t outputs) {
    const int64_t o = first_index();
    if (o >= outputs) return;
    const float v = x[sample_offset(s, o)];
    y[o] = kZero ? v * 0.f : v;
}

// One thread per input element: dy of the output sampling it, or 0 where none does.
__global__ void __launch_bounds__(kBlock)
    subsample_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy, SubsampleShape s,
                            GradMode mode, int64_t inputs) {
    const int64_t e = first_index();
    if (e >= inputs) return;
    const int in_plane = s.h * s.w;
    const int64_t p = e / in_plane;
    const int r = int(e - p * in_plane);
    const int ih = r / s.w, iw = r - ih * s.w;
    const int i = sampled_by(ih, s), j = sampled_by(iw, s);
    const int wo = s.wo();
    const float g = (i >= 0 && j >= 0) ? dy[p * s.ho() * wo + i * wo + j] : 0.f;
    write_grad(dx[e], g, mode);
}

// The kernels index within a plane with int; planes themselves are counted in int64.
void check_plane_fits_int(const SubsampleShape& s) {
    CUDARTS_CHECK(int64_t(s.h) * s.w <= INT_MAX,
                  "subsample (cuda): a plane must hold at most INT_MAX elements in " << s);
}

// subsample (kZero false) or zero forward.
template <bool kZero>
void sample_fwd(float* y, const float* x, const SubsampleShape& s, Stream st) {
    s.validate();
    check_plane_fits_int(s);
    const int64_t outputs = s.out_elems();
    if (outputs == 0) return;
    sample_fwd_kernel_v1<kZero><<<blocks_for(outputs, kBlock), kBlock, 0, st>>>(y, x, s, outputs);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace

void subsample_fwd(float* y, const float* x, const SubsampleShape& s, Stream st) {
    sample_fwd<false>(y, x, s, st);
}

void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode, Stream st) {
    s.validate();
    check_plane_fits_int(s);
    const int64_t inputs = s.in_elems();
    if (inputs == 0) return;
    subsample_bwd_kernel_v1<<<blocks_for(inputs, kBlock), kBlock, 0, st>>>(dx, dy, s, mode, inputs);
    CUDARTS_CHECK_LAUNCH();
}

void zero_fwd(float* y, const float* x, const SubsampleShape& s, Stream st) {
    sample_fwd<true>(y, x, s, st);
}

}  // namespace cudarts::cuda
