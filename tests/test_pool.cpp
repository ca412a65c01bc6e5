// Pooling CPU reference: hand-computed windows (the 4/6/9 divisors of count_include_pad=False,
// padding that never wins a max), an independently written naive loop on odd shapes, gradient
// routing of max, central-difference gradient checks and both GradModes.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "kernels/check.h"
#include "kernels/pool.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

// A random permutation of n evenly spaced values: no ties, so a max pool's argmax survives a
// finite-difference step smaller than half the spacing.
std::vector<float> distinct(int64_t n, uint64_t seed, float spacing) {
    std::vector<float> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), float(-n / 2));
    std::shuffle(v.begin(), v.end(), std::mt19937(uint32_t(seed)));
    for (float& x : v) x *= spacing;
    return v;
}

// Naive pooling written from the definition, independently of cpu/pool.cpp: loop over every
// window offset and skip the taps that fall in the padding.
std::vector<float> naive_pool(const std::vector<float>& x, const Pool2dShape& s, bool is_max) {
    std::vector<float> y(size_t(s.out_elems()));
    size_t o = 0;
    for (int p = 0; p < s.n * s.c; ++p) {
        for (int oh = 0; oh < s.ho(); ++oh) {
            for (int ow = 0; ow < s.wo(); ++ow) {
                double best = -INFINITY, sum = 0;
                int count = 0;
                for (int a = 0; a < s.k; ++a) {
                    for (int b = 0; b < s.k; ++b) {
                        const int ih = oh * s.stride - s.pad + a, iw = ow * s.stride - s.pad + b;
                        if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                        const double v = x[size_t((p * s.h + ih) * s.w + iw)];
                        best = std::max(best, v);
                        sum += v;
                        ++count;
                    }
                }
                y[o++] = float(is_max ? best : sum / count);
            }
        }
    }
    return y;
}

std::vector<float> max_fwd(const std::vector<float>& x, const Pool2dShape& s) {
    std::vector<float> y(size_t(s.out_elems()));
    cpu::max_pool2d_fwd(y.data(), x.data(), s);
    return y;
}

std::vector<float> avg_fwd(const std::vector<float>& x, const Pool2dShape& s) {
    std::vector<float> y(size_t(s.out_elems()));
    cpu::avg_pool2d_fwd(y.data(), x.data(), s);
    return y;
}

// 1x1x4x4 input holding 1..16 row by row (times `sign`), pooled 3x3 with stride 1 and padding 1.
constexpr Pool2dShape k4x4{.n = 1, .c = 1, .h = 4, .w = 4, .k = 3, .stride = 1, .pad = 1};
std::vector<float> ramp4x4(float sign) {
    std::vector<float> x(16);
    for (int i = 0; i < 16; ++i) x[size_t(i)] = sign * float(i + 1);
    return x;
}

const Pool2dShape kOddShapes[] = {
    {.n = 3, .c = 5, .h = 7, .w = 7, .k = 3, .stride = 1, .pad = 1},
    {.n = 3, .c = 5, .h = 7, .w = 7, .k = 3, .stride = 2, .pad = 1},
    {.n = 2, .c = 3, .h = 6, .w = 5, .k = 2, .stride = 2, .pad = 0},
};

}  // namespace

TEST_SUITE("pool") {
    TEST_CASE("pool2d shape: stride 2 halves 32 to 16 and takes 7 to 4; bad shapes throw") {
        const Pool2dShape s32{.n = 2, .c = 16, .h = 32, .w = 32, .k = 3, .stride = 2, .pad = 1};
        CHECK(s32.ho() == 16);
        CHECK(s32.wo() == 16);
        const Pool2dShape s7{.n = 1, .c = 1, .h = 7, .w = 9, .k = 3, .stride = 2, .pad = 1};
        CHECK(s7.ho() == 4);
        CHECK(s7.wo() == 5);
        CHECK(k4x4.ho() == 4);
        Pool2dShape bad = k4x4;
        bad.pad = 2;  // a window of padding only
        CHECK_THROWS_AS(bad.validate(), Error);
        bad = k4x4;
        bad.stride = 0;
        CHECK_THROWS_AS(bad.validate(), Error);
        std::ostringstream os;
        os << s7;
        CHECK(os.str() == "Pool2dShape{n=1 c=1 h=7 w=9 k=3 stride=2 pad=1}");
    }

    TEST_CASE("avg_pool2d fwd: 3x3 pad 1 divides by 4 in corners, 6 on edges, 9 inside") {
        CAPTURE(k4x4);
        // All ones: dividing by the in-image count gives 1 everywhere (including pad would give
        // 4/9).
        for (float v : avg_fwd(std::vector<float>(16, 1.f), k4x4)) CHECK(v == 1.f);
        const std::vector<float> y = avg_fwd(ramp4x4(1.f), k4x4);
        CHECK(y[0] == doctest::Approx((1 + 2 + 5 + 6) / 4.0));                        // corner
        CHECK(y[1] == doctest::Approx((1 + 2 + 3 + 5 + 6 + 7) / 6.0));                // top edge
        CHECK(y[4] == doctest::Approx((1 + 2 + 5 + 6 + 9 + 10) / 6.0));               // left edge
        CHECK(y[5] == doctest::Approx((1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11) / 9.0));  // inside
        CHECK(y[15] == doctest::Approx((11 + 12 + 15 + 16) / 4.0));                   // far corner
    }

    TEST_CASE("avg_pool2d fwd: matches a naive loop on odd shapes") {
        for (const Pool2dShape& s : kOddShapes) {
            CAPTURE(s);
            const std::vector<float> x = uniform(s.in_elems(), 1);
            check_close(avg_fwd(x, s), naive_pool(x, s, false), 1e-6, 1e-7, "avg_pool2d y");
        }
    }

    TEST_CASE("max_pool2d fwd: padding never wins on an all-negative input") {
        CAPTURE(k4x4);
        const std::vector<float> y = max_fwd(ramp4x4(-1.f), k4x4);
        CHECK(y[0] == -1.f);    // max(-1, -2, -5, -6); a zero pad would give 0
        CHECK(y[3] == -3.f);    // max(-3, -4, -7, -8)
        CHECK(y[5] == -1.f);    // max over rows 0-2, columns 0-2
        CHECK(y[15] == -11.f);  // max(-11, -12, -15, -16)
        for (float v : y) CHECK(v < 0.f);
    }

    TEST_CASE("max_pool2d fwd: matches a naive loop on odd shapes and propagates NaN") {
        for (const Pool2dShape& s : kOddShapes) {
            CAPTURE(s);
            const std::vector<float> x = uniform(s.in_elems(), 2);
            check_close(max_fwd(x, s), naive_pool(x, s, true), 0, 0, "max_pool2d y");
        }
        std::vector<float> x = ramp4x4(1.f);
        x[0] = std::nanf("");
        const std::vector<float> y = max_fwd(x, k4x4);
        CHECK(std::isnan(y[0]));
        CHECK(std::isnan(y[5]));
        CHECK(y[2] == 8.f);  // window rows 0-1, columns 1-3 misses the NaN
    }

    TEST_CASE("max_pool2d bwd: routes dy to the argmax, summing overlapping windows") {
        // 3x3 input whose maximum sits in the centre: all nine 3x3 pad-1 windows contain it.
        const Pool2dShape s{.n = 1, .c = 1, .h = 3, .w = 3, .k = 3, .stride = 1, .pad = 1};
        CAPTURE(s);
        const std::vector<float> x = {0.1f, -0.4f, 0.3f, 0.2f, 0.9f, -0.5f, 0.6f, 0.0f, 0.5f};
        const std::vector<float> dy = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        const std::vector<float> dx = bwd_both_modes(
            9, [&](float* d, GradMode m) { cpu::max_pool2d_bwd(d, dy.data(), x.data(), s, m); },
            "max_pool2d dx", 1e-5, 1e-6);
        check_close(dx, std::vector<float>{0, 0, 0, 0, 45, 0, 0, 0, 0}, 0, 0, "max_pool2d dx");

        // 2x2 windows of stride 2 do not overlap; the tie in the last window goes to its first tap.
        const Pool2dShape t{.n = 1, .c = 1, .h = 4, .w = 4, .k = 2, .stride = 2, .pad = 0};
        CAPTURE(t);
        const std::vector<float> x2 = {1,  5, 2, 0,  //
                                       3,  4, 8, 7,  //
                                       6,  2, 3, 3,  //
                                       -1, 9, 3, 3};
        const std::vector<float> dy2 = {10, 20, 30, 40};
        std::vector<float> dx2(16, std::nanf(""));
        cpu::max_pool2d_bwd(dx2.data(), dy2.data(), x2.data(), t, GradMode::kOverwrite);
        check_close(dx2, std::vector<float>{0, 10, 0, 0, 0, 0, 20, 0, 0, 0, 40, 0, 0, 30, 0, 0}, 0,
                    0, "max_pool2d dx");
    }

    TEST_CASE("max_pool2d bwd: matches central differences on odd shapes") {
        for (const Pool2dShape& s : kOddShapes) {
            CAPTURE(s);
            // spacing 4e-3 between values and a 1e-3 step: no step changes any window's argmax
            const std::vector<float> x = distinct(s.in_elems(), 3, 4e-3f);
            const std::vector<float> r = uniform(s.out_elems(), 4);
            const std::vector<float> dx = bwd_both_modes(
                s.in_elems(),
                [&](float* d, GradMode m) { cpu::max_pool2d_bwd(d, r.data(), x.data(), s, m); },
                "max_pool2d dx", 1e-5, 1e-6);
            const auto loss = [&](const std::vector<float>& xv) { return dot(r, max_fwd(xv, s)); };
            check_grad(dx, numeric_grad(loss, x, 1e-3), "max_pool2d dx");
        }
    }

    TEST_CASE("avg_pool2d bwd: matches central differences on odd shapes") {
        for (const Pool2dShape& s : kOddShapes) {
            CAPTURE(s);
            const std::vector<float> x = uniform(s.in_elems(), 5);
            const std::vector<float> r = uniform(s.out_elems(), 6);
            const std::vector<float> dx = bwd_both_modes(
                s.in_elems(), [&](float* d, GradMode m) { cpu::avg_pool2d_bwd(d, r.data(), s, m); },
                "avg_pool2d dx", 1e-5, 1e-6);
            const auto loss = [&](const std::vector<float>& xv) { return dot(r, avg_fwd(xv, s)); };
            check_grad(dx, numeric_grad(loss, x), "avg_pool2d dx");
        }
    }

    TEST_CASE("global_avg_pool fwd and bwd: plane means and central differences") {
        const int n = 3, c = 5, hw = 7 * 7;
        CAPTURE(n);
        CAPTURE(c);
        CAPTURE(hw);
        const std::vector<float> x = uniform(int64_t(n) * c * hw, 7);
        const auto fwd = [&](const std::vector<float>& xv) {
            std::vector<float> y(size_t(n * c));
            cpu::global_avg_pool_fwd(y.data(), xv.data(), n, c, hw);
            return y;
        };
        std::vector<double> want(size_t(n * c), 0.0);
        for (size_t i = 0; i < x.size(); ++i) want[i / hw] += x[i] / double(hw);
        check_close(fwd(x), want, 1e-6, 1e-7, "global_avg_pool y");

        const std::vector<float> r = uniform(n * c, 8);
        const std::vector<float> dx = bwd_both_modes(
            int64_t(x.size()),
            [&](float* d, GradMode m) { cpu::global_avg_pool_bwd(d, r.data(), n, c, hw, m); },
            "global_avg_pool dx", 1e-5, 1e-6);
        const auto loss = [&](const std::vector<float>& xv) { return dot(r, fwd(xv)); };
        check_grad(dx, numeric_grad(loss, x), "global_avg_pool dx");
    }

}  // TEST_SUITE("pool")
