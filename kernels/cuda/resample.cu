// The plane window and strided sampling on the GPU, NCHW fp32: the CUDA twins of
// kernels/cpu/resample.cpp, and the kernels behind pad2d (kernels/cuda/pad.cu) too.
// Forward (window, subsample, zero): one thread per output reads x at (row0 + i*stride,
// col0 + j*stride), 0 outside x. zero multiplies that sample by 0 instead of storing 0, as the
// reference x.mul(0.) does, so NaN and Inf in x come out NaN (nvcc without fast-math keeps x *
// 0.f). Backward is a gather over dx, one thread per input element: it either is a position an
// output shows and takes its dy, or gets 0; each dx element is written exactly once, so overwrite
// needs no clearing pass and accumulate adds 0 where nothing was shown. Traffic: forward reads one
// float of x per output and writes y once (8 B per output; at stride 2 a 32 B sector of x holds
// only four sampled floats, so DRAM moves twice what is used); backward reads dy once and writes dx
// once (plus dx read in accumulate). Bandwidth-bound.
//   v1  one thread per output (fwd) or per input (bwd), a direct port (the only version)
#include <climits>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/resample.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;

// One thread per output: x at the position it shows (0 outside x), times 0 for zero (kZero: NaN
// and Inf give NaN, negatives -0).
template <bool kZero>
__global__ void __launch_bounds__(kBlock)
    plane_window_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, PlaneWindow g,
                               int64_t outputs) {
    const int64_t o = first_index();
    if (o >= outputs) return;
    const PlaneIndex at = split_index(o, g.ho, g.wo);
    const int ih = g.row0 + at.i * g.stride, iw = g.col0 + at.j * g.stride;  // the x shown
    const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
    const float v = inside ? x[at.p * g.h * g.w + ih * g.w + iw] : 0.f;
    y[o] = kZero ? v * 0.f : v;
}

// One thread per input element: dy of the output showing it, or 0 where none does.
__global__ void __launch_bounds__(kBlock)
    plane_window_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy, PlaneWindow g,
                               GradMode mode, int64_t inputs) {
    const int64_t e = first_index();
    if (e >= inputs) return;
    const PlaneIndex at = split_index(e, g.h, g.w);
    const int i = PlaneWindow::shown_at(at.i, g.row0, g.stride, g.ho);
    const int j = PlaneWindow::shown_at(at.j, g.col0, g.stride, g.wo);
    const float d = (i >= 0 && j >= 0) ? dy[at.p * g.ho * g.wo + i * g.wo + j] : 0.f;
    write_grad(dx[e], d, mode);
}

// The kernels index within a plane with int; planes themselves are counted in int64.
void check_planes_fit_int(const PlaneWindow& g) {
    CUDARTS_CHECK(int64_t(g.h) * g.w <= INT_MAX && int64_t(g.ho) * g.wo <= INT_MAX,
                  "plane window (cuda): a plane must hold at most INT_MAX elements in " << g);
}

// The window forward, times 0 for zero (kZero).
template <bool kZero>
void window_fwd(float* y, const float* x, const PlaneWindow& g, Stream st) {
    check_planes_fit_int(g);
    const int64_t outputs = g.planes * g.ho * g.wo;
    if (outputs == 0) return;
    plane_window_fwd_kernel_v1<kZero>
        <<<blocks_for(outputs, kBlock), kBlock, 0, st>>>(y, x, g, outputs);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace

void plane_window_fwd(float* y, const float* x, const PlaneWindow& g, Stream st) {
    window_fwd<false>(y, x, g, st);
}

void plane_window_bwd(float* dx, const float* dy, const PlaneWindow& g, GradMode mode, Stream st) {
    check_planes_fit_int(g);
    const int64_t inputs = g.planes * g.h * g.w;
    if (inputs == 0) return;
    plane_window_bwd_kernel_v1<<<blocks_for(inputs, kBlock), kBlock, 0, st>>>(dx, dy, g, mode,
                                                                              inputs);
    CUDARTS_CHECK_LAUNCH();
}

void subsample_fwd(float* y, const float* x, const SubsampleShape& s, Stream st) {
    plane_window_fwd(y, x, s.window(), st);
}

void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode, Stream st) {
    plane_window_bwd(dx, dy, s.window(), mode, st);
}

void zero_fwd(float* y, const float* x, const SubsampleShape& s, Stream st) {
    window_fwd<true>(y, x, s.window(), st);
}

}  // namespace cudarts::cuda
