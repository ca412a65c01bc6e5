// CPU reference for pooling (kernels/pool.h): one loop nest per direction, written to be read as
// the specification. Windows are clipped to the image, so padding never enters a max or a mean:
// max behaves as if the border were -inf and avg divides by the in-image taps
// (count_include_pad=False), as torch MaxPool2d / AvgPool2d do.
// Forward walks the outputs. Backward walks the outputs too and scatters into dx (windows overlap
// at stride 1, so several outputs add into one input); overwrite mode clears each dx plane first.
// The max tap is recomputed from x in backward, in the same row-major order as forward, so both
// agree on ties: the first maximal tap wins. A NaN in a window wins too (torch propagates it), so
// a diverging search shows NaN instead of silently dropping it.
// Sums run in double: a mean of 9 or of h*w floats is then exact to float rounding.
#include "kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/check.h"
#include "kernels/cpu/parallel.h"

namespace cudarts {

void Pool2dShape::validate() const {
    // Each field's least legal value, checked in order.
    const struct {
        const char* name;
        int value, least;
    } fields[] = {{"n", n, 0}, {"c", c, 0}, {"h", h, 1},
                  {"w", w, 1}, {"k", k, 1}, {"stride", stride, 1}};
    for (const auto& f : fields)
        CUDARTS_CHECK(f.value >= f.least,
                      "Pool2dShape: " << f.name << " must be >= " << f.least << " in " << *this);
    // pad <= k/2 (torch's rule) guarantees every window holds at least one in-image tap, so a
    // max is never -inf and a mean never divides by zero.
    CUDARTS_CHECK(pad >= 0 && 2 * pad <= k, "Pool2dShape: pad must be in [0, k/2] in " << *this);
    CUDARTS_CHECK(h + 2 * pad >= k, "Pool2dShape: h + 2*pad must be >= k in " << *this);
    CUDARTS_CHECK(w + 2 * pad >= k, "Pool2dShape: w + 2*pad must be >= k in " << *this);
}

std::ostream& operator<<(std::ostream& os, const Pool2dShape& s) {
    return os << "Pool2dShape{n=" << s.n << " c=" << s.c << " h=" << s.h << " w=" << s.w
              << " k=" << s.k << " stride=" << s.stride << " pad=" << s.pad << "}";
}

namespace cpu {
namespace {

// The in-image part of one output's window: rows [h0, h1), columns [w0, w1).
struct Window {
    int h0, h1, w0, w1;
    int count() const { return (h1 - h0) * (w1 - w0); }
};

Window window_of(const Pool2dShape& s, int oh, int ow) {
    const int top = oh * s.stride - s.pad;
    const int left = ow * s.stride - s.pad;
    return {std::max(top, 0), std::min(top + s.k, s.h), std::max(left, 0),
            std::min(left + s.k, s.w)};
}

// Index (within the plane) of the tap forward picked: the first maximum in row-major order, or
// the first NaN.
int64_t argmax_in(const float* plane, const Pool2dShape& s, const Window& win) {
    float best = -std::numeric_limits<float>::infinity();
    int64_t best_i = int64_t(win.h0) * s.w + win.w0;
    for (int ih = win.h0; ih < win.h1; ++ih) {
        for (int iw = win.w0; iw < win.w1; ++iw) {
            const int64_t i = int64_t(ih) * s.w + iw;
            const float v = plane[i];
            if (std::isnan(v)) return i;
            if (v > best) {
                best = v;
                best_i = i;
            }
        }
    }
    return best_i;
}

// Every pooling loop walks the n*c planes in parallel: `count` planes of `in` input and `out`
// output elements.
struct Planes {
    int64_t count, in, out;
};

Planes planes_of(const Pool2dShape& s) {
    s.validate();
    return {int64_t(s.n) * s.c, int64_t(s.h) * s.w, int64_t(s.ho()) * s.wo()};
}

// Calls f(o, window) for each output o of one plane, in row-major order.
template <class F>
void for_each_output(const Pool2dShape& s, F&& f) {
    for (int oh = 0; oh < s.ho(); ++oh)
        for (int ow = 0; ow < s.wo(); ++ow) f(int64_t(oh) * s.wo() + ow, window_of(s, oh, ow));
}

// The forward of both pools: y = pool(xp, window) at every output of every plane, xp the
// plane's input.
template <class Pool>
void pool2d_fwd(float* y, const float* x, const Pool2dShape& s, const Pool& pool) {
    const Planes pl = planes_of(s);
    CUDARTS_PARALLEL_FOR(pl.count * pl.in)
    for (int64_t p = 0; p < pl.count; ++p) {
        const float* xp = x + p * pl.in;
        for_each_output(s,
                        [&](int64_t o, const Window& win) { y[p * pl.out + o] = pool(xp, win); });
    }
}

// The global pool's arguments, checked alike in both directions.
void check_global(int n, int c, int hw) {
    CUDARTS_CHECK(n >= 0 && c >= 0,
                  "global_avg_pool: n and c must be >= 0, got n=" << n << " c=" << c);
    CUDARTS_CHECK(hw >= 1, "global_avg_pool: hw must be >= 1, got hw=" << hw);
}

}  // namespace

void max_pool2d_fwd(float* y, const float* x, const Pool2dShape& s) {
    pool2d_fwd(y, x, s,
               [&](const float* xp, const Window& win) { return xp[argmax_in(xp, s, win)]; });
}

void max_pool2d_bwd(float* dx, const float* dy, const float* x, const Pool2dShape& s,
                    GradMode mode) {
    const Planes pl = planes_of(s);
    CUDARTS_PARALLEL_FOR(pl.count * pl.in)
    for (int64_t p = 0; p < pl.count; ++p) {
        const float* xp = x + p * pl.in;
        float* dxp = dx + p * pl.in;
        if (mode == GradMode::kOverwrite) std::fill(dxp, dxp + pl.in, 0.f);
        for_each_output(s, [&](int64_t o, const Window& win) {
            dxp[argmax_in(xp, s, win)] += dy[p * pl.out + o];
        });
    }
}

void avg_pool2d_fwd(float* y, const float* x, const Pool2dShape& s) {
    pool2d_fwd(y, x, s, [&](const float* xp, const Window& win) {
        double sum = 0;
        for (int ih = win.h0; ih < win.h1; ++ih)
            for (int iw = win.w0; iw < win.w1; ++iw) sum += xp[int64_t(ih) * s.w + iw];
        return float(sum / win.count());
    });
}

void avg_pool2d_bwd(float* dx, const float* dy, const Pool2dShape& s, GradMode mode) {
    const Planes pl = planes_of(s);
    CUDARTS_PARALLEL_FOR(pl.count * pl.in)
    for (int64_t p = 0; p < pl.count; ++p) {
        float* dxp = dx + p * pl.in;
        if (mode == GradMode::kOverwrite) std::fill(dxp, dxp + pl.in, 0.f);
        for_each_output(s, [&](int64_t o, const Window& win) {
            const float share = dy[p * pl.out + o] / float(win.count());
            for (int ih = win.h0; ih < win.h1; ++ih)
                for (int iw = win.w0; iw < win.w1; ++iw) dxp[int64_t(ih) * s.w + iw] += share;
        });
    }
}

void global_avg_pool_fwd(float* y, const float* x, int n, int c, int hw) {
    check_global(n, c, hw);
    const int64_t planes = int64_t(n) * c;
    CUDARTS_PARALLEL_FOR(planes * hw)
    for (int64_t p = 0; p < planes; ++p) {
        const float* xp = x + p * hw;
        double sum = 0;
        for (int i = 0; i < hw; ++i) sum += xp[i];
        y[p] = float(sum / hw);
    }
}

void global_avg_pool_bwd(float* dx, const float* dy, int n, int c, int hw, GradMode mode) {
    check_global(n, c, hw);
    const int64_t planes = int64_t(n) * c;
    CUDARTS_PARALLEL_FOR(planes * hw)
    for (int64_t p = 0; p < planes; ++p) {
        const float share = float(double(dy[p]) / hw);
        for (int i = 0; i < hw; ++i) write_grad(dx[p * hw + i], share, mode);
    }
}

}  // namespace cpu
}  // namespace cudarts
