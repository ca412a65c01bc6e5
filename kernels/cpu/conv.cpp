// Reference 2-D convolution, NCHW fp32 (semantics in kernels/conv.h: torch.nn.Conv2d, no bias).
// The general case is three direct loops, each written as a gather so that every output element
// is one double-precision sum finished by a single write (and GradMode applies per element):
//   fwd         y[n,o,i,j]  = sum over c in o's group, taps (a,b) of w * x
//   bwd_data    dx[n,c,p,q] = sum over o in c's group, taps (a,b) whose output position
//               i = (p + pad - a*dil) / stride is whole and inside [0, ho), likewise j
//   bwd_weight  dw[o,c,a,b] = sum over n, i, j of dy[n,o,i,j] * x at the input pixel that
//               tap (a,b) of output (i,j) reads in channel g0 + c (g0: o's group's first channel)
// The 1x1, stride 1, pad 0, single-group convolution (DARTS' ReLUConvBN and every separable
// convolution's pointwise half) is a matrix product per sample, so it goes through Eigen:
//   y_n = W x_n,  dx_n = W^T dy_n,  dW = sum_n dy_n x_n^T
// with W (c_out, c_in) and x_n (c_in, h*w) read in place as row-major matrices. Eigen sums in
// float, so this path differs from the loops by rounding only (tests/test_conv.cpp bounds it).
// Channelwise convolutions (one input channel per group: the depthwise convolutions of every
// DARTS sep/dil conv, and their channel multipliers) loop tap by tap over the output rows that
// tap reaches, so the inner loop runs along a row without bounds tests and vectorises; sums are
// in float per row (double across rows for the weight gradient).
#include "kernels/conv.h"

#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "kernels/check.h"
#include "kernels/cpu/parallel.h"

namespace cudarts {

void Conv2dShape::validate() const {
    CUDARTS_CHECK(n >= 0, "Conv2dShape: n must be >= 0 in " << *this);
    CUDARTS_CHECK(c_in > 0, "Conv2dShape: c_in must be positive in " << *this);
    CUDARTS_CHECK(h > 0, "Conv2dShape: h must be positive in " << *this);
    CUDARTS_CHECK(w > 0, "Conv2dShape: w must be positive in " << *this);
    CUDARTS_CHECK(c_out > 0, "Conv2dShape: c_out must be positive in " << *this);
    CUDARTS_CHECK(k >= 1, "Conv2dShape: k must be >= 1 in " << *this);
    CUDARTS_CHECK(stride >= 1, "Conv2dShape: stride must be >= 1 in " << *this);
    CUDARTS_CHECK(pad >= 0, "Conv2dShape: pad must be >= 0 in " << *this);
    CUDARTS_CHECK(dil >= 1, "Conv2dShape: dil must be >= 1 in " << *this);
    CUDARTS_CHECK(groups >= 1, "Conv2dShape: groups must be >= 1 in " << *this);
    CUDARTS_CHECK(c_in % groups == 0, "Conv2dShape: c_in not divisible by groups in " << *this);
    CUDARTS_CHECK(c_out % groups == 0, "Conv2dShape: c_out not divisible by groups in " << *this);
    // Compared directly rather than through ho(): C++ division truncates toward zero, so a
    // slightly negative numerator would still give ho() == 1.
    const int extent = dil * (k - 1) + 1;
    CUDARTS_CHECK(extent <= h + 2 * pad,
                  "Conv2dShape: h + 2*pad is smaller than the dilated "
                  "kernel extent "
                      << extent << " (ho() < 1) in " << *this);
    CUDARTS_CHECK(extent <= w + 2 * pad,
                  "Conv2dShape: w + 2*pad is smaller than the dilated "
                  "kernel extent "
                      << extent << " (wo() < 1) in " << *this);
}

std::ostream& operator<<(std::ostream& os, const Conv2dShape& s) {
    return os << "Conv2dShape{n=" << s.n << " c_in=" << s.c_in << " h=" << s.h << " w=" << s.w
              << " c_out=" << s.c_out << " k=" << s.k << " stride=" << s.stride << " pad=" << s.pad
              << " dil=" << s.dil << " groups=" << s.groups << "}";
}

namespace cpu {

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMajor>;
using ConstMatMap = Eigen::Map<const RowMajor>;

// Flat offsets of x/dx, y/dy and w/dw elements.
int64_t x_at(const Conv2dShape& s, int n, int c, int p, int q) {
    return ((int64_t(n) * s.c_in + c) * s.h + p) * s.w + q;
}
int64_t y_at(const Conv2dShape& s, int n, int o, int i, int j) {
    return ((int64_t(n) * s.c_out + o) * s.ho() + i) * s.wo() + j;
}
int64_t w_at(const Conv2dShape& s, int o, int c, int a, int b) {
    return ((int64_t(o) * s.cin_per_group() + c) * s.k + a) * s.k + b;
}

void conv2d_fwd_direct(float* y, const float* x, const float* w, const Conv2dShape& s) {
    const int ho = s.ho(), wo = s.wo(), cpg = s.cin_per_group(), opg = s.cout_per_group();
    CUDARTS_PARALLEL_FOR(s.out_elems() * cpg * s.k * s.k)
    for (int64_t no = 0; no < int64_t(s.n) * s.c_out; ++no) {
        const int n = int(no / s.c_out), o = int(no % s.c_out);
        const int c0 = o / opg * cpg;  // first input channel of o's group
        for (int i = 0; i < ho; ++i)
            for (int j = 0; j < wo; ++j) {
                double acc = 0;
                for (int c = 0; c < cpg; ++c)
                    s.for_each_tap(i, j, [&](int a, int b, int p, int q) {
                        acc += double(w[w_at(s, o, c, a, b)]) * x[x_at(s, n, c0 + c, p, q)];
                    });
                y[y_at(s, n, o, i, j)] = float(acc);
            }
    }
}

void conv2d_bwd_data_direct(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                            GradMode mode) {
    const int cpg = s.cin_per_group(), opg = s.cout_per_group();
    CUDARTS_PARALLEL_FOR(s.in_elems() * opg * s.k * s.k)
    for (int64_t nc = 0; nc < int64_t(s.n) * s.c_in; ++nc) {
        const int n = int(nc / s.c_in), c = int(nc % s.c_in);
        const int g = c / cpg, cl = c % cpg;  // c's group and its index inside the group
        for (int p = 0; p < s.h; ++p)
            for (int q = 0; q < s.w; ++q) {
                double acc = 0;
                for (int o = g * opg; o < (g + 1) * opg; ++o)
                    s.for_each_source(p, q, [&](int a, int b, int i, int j) {
                        acc += double(w[w_at(s, o, cl, a, b)]) * dy[y_at(s, n, o, i, j)];
                    });
                write_grad(dx[x_at(s, n, c, p, q)], float(acc), mode);
            }
    }
}

void conv2d_bwd_weight_direct(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                              GradMode mode) {
    const int ho = s.ho(), wo = s.wo(), cpg = s.cin_per_group(), opg = s.cout_per_group();
    CUDARTS_PARALLEL_FOR(s.out_elems() * cpg * s.k * s.k)
    for (int o = 0; o < s.c_out; ++o) {
        const int c0 = o / opg * cpg;
        for (int c = 0; c < cpg; ++c)
            for (int a = 0; a < s.k; ++a)
                for (int b = 0; b < s.k; ++b) {
                    double acc = 0;
                    for (int n = 0; n < s.n; ++n)
                        for (int i = 0; i < ho; ++i) {
                            const int p = i * s.stride - s.pad + a * s.dil;
                            if (p < 0 || p >= s.h) continue;
                            for (int j = 0; j < wo; ++j) {
                                const int q = j * s.stride - s.pad + b * s.dil;
                                if (q < 0 || q >= s.w) continue;
                                acc +=
                                    double(dy[y_at(s, n, o, i, j)]) * x[x_at(s, n, c0 + c, p, q)];
                            }
                        }
                    write_grad(dw[w_at(s, o, c, a, b)], float(acc), mode);
                }
    }
}

// Output positions i in [lo, hi) whose tap at input offset i*stride + off lies inside [0, size).
struct TapRange {
    int lo, hi;
};
TapRange tap_range(int off, int stride, int size, int n_out) {
    const int lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    const int last = size - 1 - off;  // i*stride <= last
    const int hi = last < 0 ? 0 : std::min(n_out, last / stride + 1);
    return {lo, std::max(lo, hi)};
}

// One kernel tap (a, b) of a channelwise convolution: its input offsets dp = a*dil - pad and
// dq = b*dil - pad, and the output rows ri and columns rj whose tap lands inside the image.
struct Tap {
    int a, b, dp, dq;
    TapRange ri, rj;
};

// Calls f(tap) for every tap of the kernel, in row-major order.
template <class F>
void for_each_tap(const Conv2dShape& s, F&& f) {
    for (int a = 0; a < s.k; ++a) {
        const int dp = a * s.dil - s.pad;
        const TapRange ri = tap_range(dp, s.stride, s.h, s.ho());
        for (int b = 0; b < s.k; ++b) {
            const int dq = b * s.dil - s.pad;
            f(Tap{a, b, dp, dq, ri, tap_range(dq, s.stride, s.w, s.wo())});
        }
    }
}

// y[n,o] += w[o,a,b] * x[n, o / opg] shifted by tap (a,b), for every tap.
void conv2d_fwd_channelwise(float* y, const float* x, const float* w, const Conv2dShape& s) {
    const int ho = s.ho(), wo = s.wo(), opg = s.cout_per_group(), st = s.stride;
    CUDARTS_PARALLEL_FOR(s.out_elems() * s.k * s.k)
    for (int64_t no = 0; no < int64_t(s.n) * s.c_out; ++no) {
        const int n = int(no / s.c_out), o = int(no % s.c_out);
        const float* xp = x + x_at(s, n, o / opg, 0, 0);
        float* yp = y + y_at(s, n, o, 0, 0);
        std::fill(yp, yp + int64_t(ho) * wo, 0.f);
        for_each_tap(s, [&](const Tap& t) {
            const float wv = w[w_at(s, o, 0, t.a, t.b)];
            for (int i = t.ri.lo; i < t.ri.hi; ++i) {
                const float* xr = xp + int64_t(i * st + t.dp) * s.w + t.dq;
                float* yr = yp + int64_t(i) * wo;
                for (int j = t.rj.lo; j < t.rj.hi; ++j) yr[j] += wv * xr[j * st];
            }
        });
    }
}

// dx[n,c] = sum over the group's outputs o and taps of w[o,a,b] * dy[n,o] scattered back.
void conv2d_bwd_data_channelwise(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                                 GradMode mode) {
    const int wo = s.wo(), opg = s.cout_per_group(), st = s.stride;
    const int64_t plane = int64_t(s.h) * s.w;
    CUDARTS_PARALLEL_FOR(s.out_elems() * s.k * s.k)
    for (int64_t nc = 0; nc < int64_t(s.n) * s.c_in; ++nc) {
        const int n = int(nc / s.c_in), c = int(nc % s.c_in);
        std::vector<float> acc(static_cast<size_t>(plane), 0.f);
        for (int o = c * opg; o < (c + 1) * opg; ++o) {
            const float* dyp = dy + y_at(s, n, o, 0, 0);
            for_each_tap(s, [&](const Tap& t) {
                const float wv = w[w_at(s, o, 0, t.a, t.b)];
                for (int i = t.ri.lo; i < t.ri.hi; ++i) {
                    float* ar = acc.data() + int64_t(i * st + t.dp) * s.w + t.dq;
                    const float* dyr = dyp + int64_t(i) * wo;
                    for (int j = t.rj.lo; j < t.rj.hi; ++j) ar[j * st] += wv * dyr[j];
                }
            });
        }
        float* dxp = dx + x_at(s, n, c, 0, 0);
        for (int64_t e = 0; e < plane; ++e) write_grad(dxp[e], acc[size_t(e)], mode);
    }
}

// dw[o,0,a,b] = sum over n and the rows tap (a,b) reaches of dy[n,o] . x[n, o / opg] shifted.
void conv2d_bwd_weight_channelwise(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                                   GradMode mode) {
    const int wo = s.wo(), opg = s.cout_per_group(), st = s.stride;
    CUDARTS_PARALLEL_FOR(s.out_elems() * s.k * s.k)
    for (int o = 0; o < s.c_out; ++o)
        for_each_tap(s, [&](const Tap& t) {
            double acc = 0;
            for (int n = 0; n < s.n; ++n) {
                const float* xp = x + x_at(s, n, o / opg, 0, 0);
                const float* dyp = dy + y_at(s, n, o, 0, 0);
                for (int i = t.ri.lo; i < t.ri.hi; ++i) {
                    const float* xr = xp + int64_t(i * st + t.dp) * s.w + t.dq;
                    const float* dyr = dyp + int64_t(i) * wo;
                    float row = 0;
                    for (int j = t.rj.lo; j < t.rj.hi; ++j) row += dyr[j] * xr[j * st];
                    acc += row;
                }
            }
            write_grad(dw[w_at(s, o, 0, t.a, t.b)], float(acc), mode);
        });
}

void conv2d_fwd_pointwise(float* y, const float* x, const float* w, const Conv2dShape& s) {
    const int64_t hw = int64_t(s.h) * s.w;
    const ConstMatMap wm(w, s.c_out, s.c_in);
    for (int n = 0; n < s.n; ++n) {
        MatMap yn(y + int64_t(n) * s.c_out * hw, s.c_out, hw);
        yn.noalias() = wm * ConstMatMap(x + int64_t(n) * s.c_in * hw, s.c_in, hw);
    }
}

void conv2d_bwd_data_pointwise(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                               GradMode mode) {
    const int64_t hw = int64_t(s.h) * s.w;
    const ConstMatMap wm(w, s.c_out, s.c_in);
    for (int n = 0; n < s.n; ++n) {
        MatMap dxn(dx + int64_t(n) * s.c_in * hw, s.c_in, hw);
        const ConstMatMap dyn(dy + int64_t(n) * s.c_out * hw, s.c_out, hw);
        if (mode == GradMode::kOverwrite)
            dxn.noalias() = wm.transpose() * dyn;
        else
            dxn.noalias() += wm.transpose() * dyn;
    }
}

void conv2d_bwd_weight_pointwise(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                                 GradMode mode) {
    const int64_t hw = int64_t(s.h) * s.w;
    MatMap dwm(dw, s.c_out, s.c_in);
    // Zeroed first rather than assigned from sample 0, so an empty batch still overwrites.
    if (mode == GradMode::kOverwrite) dwm.setZero();
    for (int n = 0; n < s.n; ++n)
        dwm.noalias() += ConstMatMap(dy + int64_t(n) * s.c_out * hw, s.c_out, hw) *
                         ConstMatMap(x + int64_t(n) * s.c_in * hw, s.c_in, hw).transpose();
}

}  // namespace

void conv2d_fwd(float* y, const float* x, const float* w, const Conv2dShape& s) {
    s.validate();
    if (s.out_elems() == 0) return;
    if (s.is_pointwise())
        conv2d_fwd_pointwise(y, x, w, s);
    else if (s.is_channelwise())
        conv2d_fwd_channelwise(y, x, w, s);
    else
        conv2d_fwd_direct(y, x, w, s);
}

void conv2d_bwd_data(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                     GradMode mode) {
    s.validate();
    if (s.in_elems() == 0) return;
    if (s.is_pointwise())
        conv2d_bwd_data_pointwise(dx, dy, w, s, mode);
    else if (s.is_channelwise())
        conv2d_bwd_data_channelwise(dx, dy, w, s, mode);
    else
        conv2d_bwd_data_direct(dx, dy, w, s, mode);
}

// No early return on an empty batch: dw is never empty, and kOverwrite must still zero it.
void conv2d_bwd_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                       GradMode mode) {
    s.validate();
    if (s.is_pointwise())
        conv2d_bwd_weight_pointwise(dw, dy, x, s, mode);
    else if (s.is_channelwise())
        conv2d_bwd_weight_channelwise(dw, dy, x, s, mode);
    else
        conv2d_bwd_weight_direct(dw, dy, x, s, mode);
}

void conv2d_group_fwd(std::span<const ConvFwdItem> items, const Conv2dShape& s) {
    for (const ConvFwdItem& it : items) conv2d_fwd(it.y, it.x, it.w, s);
}

void conv2d_group_bwd_data(std::span<const ConvDataGradItem> items, const Conv2dShape& s) {
    for (const ConvDataGradItem& it : items) conv2d_bwd_data(it.dx, it.dy, it.w, s, it.mode);
}

void conv2d_group_bwd_weight(std::span<const ConvWeightGradItem> items, const Conv2dShape& s) {
    for (const ConvWeightGradItem& it : items) conv2d_bwd_weight(it.dw, it.dy, it.x, s, it.mode);
}

}  // namespace cpu

}  // namespace cudarts
