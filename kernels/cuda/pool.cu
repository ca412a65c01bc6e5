// Pooling on the GPU, NCHW fp32: the CUDA twins of kernels/cpu/pool.cpp, with the same windows
// (clipped to the image: padding never enters a max or a mean, count_include_pad=False), the same
// tie rule (first maximal tap in row-major window order) and the same NaN rule (the first NaN of a
// window wins).
// Forward: one thread per output walks its window. Neighbouring outputs share most of their taps,
// so L1 absorbs the overlap and DRAM sees x once and y once: 8 B per output at stride 1 (20 B at
// stride 2, where x is four times y), bandwidth-bound.
// Backward is a gather, so no atomics and no clearing pass: one thread per input element visits
// the outputs whose windows cover it (at most ceil(k/stride)^2) in the CPU's row-major order and
// sums what they send it, then writes the sum once with write_grad. Max recomputes each candidate
// window's argmax from x (k*k L1 reads per candidate, 81 at 3x3 stride 1) and takes dy only where
// the argmax is this element; avg adds dy / count of each covering window. Minimal traffic is
// x, dy and dx once (12 B per input at stride 1); the recomputed windows make max bwd L1-bound.
// In overwrite mode both sums start from 0 in the CPU's order, so they match it bit for bit.
// Global average: one warp per (n, c) plane sums it with a fixed shuffle tree (deterministic),
// 4 B per input; its backward is elementwise, dx = dy / hw.
//   v1  one thread per output (fwd) or per input (bwd), a direct port (the only version)
#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/pool.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = kBlock / kWarp;

// The in-image part of one output's window: rows [h0, h1), columns [w0, w1).
struct Window {
    int h0, h1, w0, w1;
    __device__ int count() const { return (h1 - h0) * (w1 - w0); }
};

__device__ Window window_of(const Pool2dShape& s, int oh, int ow) {
    const int top = oh * s.stride - s.pad;
    const int left = ow * s.stride - s.pad;
    return {max(top, 0), min(top + s.k, s.h), max(left, 0), min(left + s.k, s.w)};
}

// Plane index of the tap the forward picks: the first maximum in row-major order, or the first NaN.
__device__ int argmax_in(const float* __restrict__ plane, int w, const Window& win) {
    float best = -std::numeric_limits<float>::infinity();
    int best_i = win.h0 * w + win.w0;
    for (int ih = win.h0; ih < win.h1; ++ih) {
        for (int iw = win.w0; iw < win.w1; ++iw) {
            const int i = ih * w + iw;
            const float v = plane[i];
            if (isnan(v)) return i;
            if (v > best) {
                best = v;
                best_i = i;
            }
        }
    }
    return best_i;
}

// The outputs [lo, hi] along one axis whose (unclipped) windows [o*stride - pad, +k) cover input
// position i; empty when lo > hi (rows below the last window at stride > 1).
struct Covering {
    int lo, hi;
};

__device__ Covering outputs_covering(int i, int k, int stride, int pad, int out) {
    const int first = i + pad - k;  // windows starting at or before this one end before i
    const int lo = first < 0 ? 0 : first / stride + 1;
    const int hi = min((i + pad) / stride, out - 1);
    return {lo, hi};
}

// One thread per output. max (kMax): y = x at the window's argmax; avg: the mean of the window's
// in-image taps.
template <bool kMax>
__global__ void __launch_bounds__(kBlock)
    pool2d_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, Pool2dShape s,
                         int64_t outputs) {
    const int64_t o = first_index();
    if (o >= outputs) return;
    const PlaneIndex at = split_index(o, s.ho(), s.wo());
    const float* xp = x + at.p * s.h * s.w;
    const Window win = window_of(s, at.i, at.j);
    if constexpr (kMax) {
        y[o] = xp[argmax_in(xp, s.w, win)];
    } else {
        float sum = 0.f;
        for (int ih = win.h0; ih < win.h1; ++ih)
            for (int iw = win.w0; iw < win.w1; ++iw) sum += xp[ih * s.w + iw];
        y[o] = sum / float(win.count());
    }
}

// One thread per input element: the sum over the covering outputs of what each sends it. max
// (kMax): dy where the element is the output's argmax (x is read only here); avg: dy / count.
template <bool kMax>
__global__ void __launch_bounds__(kBlock)
    pool2d_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy,
                         const float* __restrict__ x, Pool2dShape s, GradMode mode,
                         int64_t inputs) {
    const int64_t e = first_index();
    if (e >= inputs) return;
    const int ho = s.ho(), wo = s.wo();
    const PlaneIndex at = split_index(e, s.h, s.w);
    const float* dyp = dy + at.p * ho * wo;
    const Covering rows = outputs_covering(at.i, s.k, s.stride, s.pad, ho);
    const Covering cols = outputs_covering(at.j, s.k, s.stride, s.pad, wo);
    float sum = 0.f;
    if constexpr (kMax) {
        const float* xp = x + at.p * s.h * s.w;
        for (int oh = rows.lo; oh <= rows.hi; ++oh)
            for (int ow = cols.lo; ow <= cols.hi; ++ow)
                if (argmax_in(xp, s.w, window_of(s, oh, ow)) == at.r) sum += dyp[oh * wo + ow];
    } else {
        for (int oh = rows.lo; oh <= rows.hi; ++oh)
            for (int ow = cols.lo; ow <= cols.hi; ++ow)
                sum += dyp[oh * wo + ow] / float(window_of(s, oh, ow).count());
    }
    write_grad(dx[e], sum, mode);
}

// One warp per plane: lanes stride over the plane, then a butterfly of shuffles adds the 32
// partial sums in a fixed order. A warp's plane index is uniform, so whole warps exit together
// and the full shuffle mask is valid.
__global__ void __launch_bounds__(kBlock)
    global_avg_pool_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x,
                                  int64_t planes, int hw) {
    const int64_t p = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
    const int lane = int(threadIdx.x % kWarp);
    if (p >= planes) return;
    const float* xp = x + p * hw;
    float sum = 0.f;
    for (int i = lane; i < hw; i += kWarp) sum += xp[i];
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[p] = sum / float(hw);
}

// One thread per input element: dx = dy of its plane / hw.
__global__ void __launch_bounds__(kBlock)
    global_avg_pool_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy, int hw,
                                  GradMode mode, int64_t inputs) {
    const int64_t e = first_index();
    if (e >= inputs) return;
    write_grad(dx[e], dy[e / hw] / float(hw), mode);
}

// The kernels index within a plane with int; planes themselves are counted in int64.
void check_planes_fit_int(const Pool2dShape& s) {
    CUDARTS_CHECK(int64_t(s.h) * s.w <= INT_MAX && int64_t(s.ho()) * s.wo() <= INT_MAX,
                  "pool2d (cuda): a plane must hold at most INT_MAX elements in " << s);
}

void check_global(int n, int c, int hw) {
    CUDARTS_CHECK(n >= 0 && c >= 0,
                  "global_avg_pool: n and c must be >= 0, got n=" << n << " c=" << c);
    CUDARTS_CHECK(hw >= 1, "global_avg_pool: hw must be >= 1, got hw=" << hw);
}

// Max (kMax) or average pooling forward.
template <bool kMax>
void pool2d_fwd(float* y, const float* x, const Pool2dShape& s, Stream st) {
    s.validate();
    check_planes_fit_int(s);
    const int64_t outputs = s.out_elems();
    if (outputs == 0) return;
    pool2d_fwd_kernel_v1<kMax><<<blocks_for(outputs, kBlock), kBlock, 0, st>>>(y, x, s, outputs);
    CUDARTS_CHECK_LAUNCH();
}

// Max (kMax, which reads x) or average pooling backward (x unused, may be null).
template <bool kMax>
void pool2d_bwd(float* dx, const float* dy, const float* x, const Pool2dShape& s, GradMode mode,
                Stream st) {
    s.validate();
    check_planes_fit_int(s);
    const int64_t inputs = s.in_elems();
    if (inputs == 0) return;
    pool2d_bwd_kernel_v1<kMax>
        <<<blocks_for(inputs, kBlock), kBlock, 0, st>>>(dx, dy, x, s, mode, inputs);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace

void max_pool2d_fwd(float* y, const float* x, const Pool2dShape& s, Stream st) {
    pool2d_fwd<true>(y, x, s, st);
}

void max_pool2d_bwd(float* dx, const float* dy, const float* x, const Pool2dShape& s, GradMode mode,
                    Stream st) {
    pool2d_bwd<true>(dx, dy, x, s, mode, st);
}

void avg_pool2d_fwd(float* y, const float* x, const Pool2dShape& s, Stream st) {
    pool2d_fwd<false>(y, x, s, st);
}

void avg_pool2d_bwd(float* dx, const float* dy, const Pool2dShape& s, GradMode mode, Stream st) {
    pool2d_bwd<false>(dx, dy, nullptr, s, mode, st);
}

void global_avg_pool_fwd(float* y, const float* x, int n, int c, int hw, Stream st) {
    check_global(n, c, hw);
    const int64_t planes = int64_t(n) * c;
    if (planes == 0) return;
    global_avg_pool_fwd_kernel_v1<<<blocks_for(planes, kWarpsPerBlock), kBlock, 0, st>>>(
        y, x, planes, hw);
    CUDARTS_CHECK_LAUNCH();
}

void global_avg_pool_bwd(float* dx, const float* dy, int n, int c, int hw, GradMode mode,
                         Stream st) {
    check_global(n, c, hw);
    const int64_t inputs = int64_t(n) * c * hw;
    if (inputs == 0) return;
    global_avg_pool_bwd_kernel_v1<<<blocks_for(inputs, kBlock), kBlock, 0, st>>>(dx, dy, hw, mode,
                                                                                 inputs);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace cudarts::cuda
