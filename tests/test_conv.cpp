// Oracles for the reference convolution: hand-computed small cases, naive loops written here in
// scatter form (the kernels gather, and the 1x1 case goes through Eigen), central-difference
// gradients, adjoint identities and both gradient write modes.
#include <cmath>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "kernels/check.h"
#include "kernels/conv.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

// Calls f(y offset, x offset, w offset) once for every product in the definition's sum; naive()
// below accumulates all three directions over this one walk.
template <class F>
void for_each_tap(const Conv2dShape& s, F&& f) {
    const int ho = s.ho(), wo = s.wo(), cpg = s.cin_per_group(), opg = s.cout_per_group();
    for (int n = 0; n < s.n; ++n)
        for (int g = 0; g < s.groups; ++g)
            for (int ol = 0; ol < opg; ++ol)
                for (int cl = 0; cl < cpg; ++cl)
                    for (int a = 0; a < s.k; ++a)
                        for (int b = 0; b < s.k; ++b)
                            for (int i = 0; i < ho; ++i)
                                for (int j = 0; j < wo; ++j) {
                                    const int o = g * opg + ol, c = g * cpg + cl;
                                    const int p = i * s.stride - s.pad + a * s.dil;
                                    const int q = j * s.stride - s.pad + b * s.dil;
                                    if (p < 0 || p >= s.h || q < 0 || q >= s.w) continue;
                                    f(((int64_t(n) * s.c_out + o) * ho + i) * wo + j,
                                      ((int64_t(n) * s.c_in + c) * s.h + p) * s.w + q,
                                      ((int64_t(o) * cpg + cl) * s.k + a) * s.k + b);
                                }
}

std::vector<float> fwd(const std::vector<float>& x, const std::vector<float>& w,
                       const Conv2dShape& s) {
    std::vector<float> y(size_t(s.out_elems()));
    cpu::conv2d_fwd(y.data(), x.data(), w.data(), s);
    return y;
}

// Seeded uniform operands of one shape: x, w and the upstream gradient dy from seeds seed,
// seed + 1 and seed + 2.
struct ConvOperands {
    std::vector<float> x, w, dy;
};

ConvOperands operands(const Conv2dShape& s, uint64_t seed) {
    return {.x = uniform(s.in_elems(), seed),
            .w = uniform(s.weight_elems(), seed + 1),
            .dy = uniform(s.out_elems(), seed + 2)};
}

// The definition's three sums in double: y = w * x, and the adjoints dx = w^T * dy and
// dw = dy * x^T. Each product of the walk lands in all three.
struct NaiveConv {
    std::vector<double> y, dx, dw;
};

NaiveConv naive(const ConvOperands& o, const Conv2dShape& s) {
    const auto& [x, w, dy] = o;
    NaiveConv r{.y = std::vector<double>(size_t(s.out_elems()), 0.0),
                .dx = std::vector<double>(size_t(s.in_elems()), 0.0),
                .dw = std::vector<double>(size_t(s.weight_elems()), 0.0)};
    for_each_tap(s, [&](int64_t yi, int64_t xi, int64_t wi) {
        r.y[yi] += double(w[wi]) * x[xi];
        r.dx[xi] += double(w[wi]) * dy[yi];
        r.dw[wi] += double(dy[yi]) * x[xi];
    });
    return r;
}

// dx and dw of the kernels for the upstream gradient dy, both overwritten.
struct ConvGrads {
    std::vector<float> dx, dw;
};

ConvGrads bwd(const ConvOperands& o, const Conv2dShape& s) {
    ConvGrads g{.dx = std::vector<float>(size_t(s.in_elems())),
                .dw = std::vector<float>(size_t(s.weight_elems()))};
    cpu::conv2d_bwd_data(g.dx.data(), o.dy.data(), o.w.data(), s, GradMode::kOverwrite);
    cpu::conv2d_bwd_weight(g.dw.data(), o.dy.data(), o.x.data(), s, GradMode::kOverwrite);
    return g;
}

// Shapes covering every path: dense, depthwise, grouped, strided, dilated, 1x1 through the GEMM
// (stride 1) and through the loops (stride 2), odd sizes and non-square images.
std::vector<Conv2dShape> shape_list() {
    return {
        {.n = 2, .c_in = 4, .h = 9, .w = 8, .c_out = 6, .k = 3, .pad = 1},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 5, .k = 3, .pad = 1, .groups = 5},
        {.n = 2, .c_in = 5, .h = 9, .w = 8, .c_out = 5, .k = 5, .stride = 2, .pad = 2, .groups = 5},
        {.n = 2, .c_in = 5, .h = 9, .w = 9, .c_out = 5, .k = 3, .pad = 2, .dil = 2, .groups = 5},
        {.n = 2, .c_in = 3, .h = 9, .w = 10, .c_out = 3, .k = 5, .pad = 4, .dil = 2, .groups = 3},
        {.n = 2, .c_in = 3, .h = 8, .w = 9, .c_out = 4, .k = 3, .stride = 2, .pad = 1},
        {.n = 2, .c_in = 4, .h = 6, .w = 7, .c_out = 6, .k = 3, .pad = 1, .groups = 2},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 6, .k = 1},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 6, .k = 1, .stride = 2},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 5, .k = 3, .stride = 2, .pad = 1, .dil = 2},
        {.n = 1, .c_in = 2, .h = 5, .w = 6, .c_out = 3, .k = 2, .stride = 3},
    };
}

// The central-difference shapes: depthwise 3x3 stride 2, depthwise 5x5 dilation 2 (DilConv 5x5),
// dense 3x3 pad 1, grouped with stride 2, 1x1 (GEMM path), and everything odd at once.
std::vector<Conv2dShape> grad_shapes() {
    return {
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 5, .k = 3, .stride = 2, .pad = 1, .groups = 5},
        {.n = 2, .c_in = 5, .h = 7, .w = 7, .c_out = 5, .k = 5, .pad = 4, .dil = 2, .groups = 5},
        {.n = 2, .c_in = 3, .h = 5, .w = 5, .c_out = 4, .k = 3, .pad = 1},
        {.n = 2, .c_in = 4, .h = 5, .w = 6, .c_out = 6, .k = 3, .stride = 2, .pad = 1, .groups = 2},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 6, .k = 1},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 5, .k = 3, .stride = 2, .pad = 2, .dil = 2},
    };
}

// The write-mode shapes: grouped 3x3 stride 2 through the loops, 1x1 through the GEMM.
std::vector<Conv2dShape> mode_shapes() {
    return {
        {.n = 2, .c_in = 4, .h = 6, .w = 5, .c_out = 6, .k = 3, .stride = 2, .pad = 1, .groups = 2},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 6, .k = 1},
    };
}

// x = 1..9 row-major, w = [[1,2,0],[0,1,0],[0,0,-1]], so at stride 1 and dil 1
// y[i,j] = x[i-1,j-1] + 2 x[i-1,j] + x[i,j] - x[i+1,j+1] with zero outside the image.
const std::vector<float> kHandX = {1, 2, 3, 4, 5, 6, 7, 8, 9};
const std::vector<float> kHandW = {1, 2, 0, 0, 1, 0, 0, 0, -1};

void check_grad_modes(const Conv2dShape& s) {
    CAPTURE(s);
    const ConvOperands o = operands(s, 1);
    const auto& [x, w, dy] = o;
    const std::vector<float> dx = bwd_both_modes(
        s.in_elems(),
        [&](float* d, GradMode m) { cpu::conv2d_bwd_data(d, dy.data(), w.data(), s, m); }, "dx",
        1e-6, 1e-6, 4);
    const std::vector<float> dw = bwd_both_modes(
        s.weight_elems(),
        [&](float* d, GradMode m) { cpu::conv2d_bwd_weight(d, dy.data(), x.data(), s, m); }, "dw",
        1e-6, 1e-6, 5);
    const NaiveConv want = naive(o, s);
    check_close(dx, want.dx, 1e-5, 1e-5, "dx overwrite");
    check_close(dw, want.dw, 1e-5, 1e-5, "dw overwrite");
}

}  // namespace

TEST_SUITE("conv") {
    TEST_CASE("conv2d shape: depthwise, channelwise and pointwise name three different shapes") {
        const Conv2dShape dw{.n = 1, .c_in = 4, .h = 5, .w = 5, .c_out = 4, .k = 3, .groups = 4};
        CHECK(dw.is_depthwise());
        CHECK(dw.is_channelwise());
        CHECK_FALSE(dw.is_pointwise());
        // A channel multiplier: one input channel per group, two outputs each.
        const Conv2dShape mult{.n = 1, .c_in = 4, .h = 5, .w = 5, .c_out = 8, .k = 3, .groups = 4};
        CHECK_FALSE(mult.is_depthwise());
        CHECK(mult.is_channelwise());
        // One channel: depthwise by definition, but a plain convolution to the CPU loops.
        const Conv2dShape one{.n = 1, .c_in = 1, .h = 5, .w = 5, .c_out = 1, .k = 3};
        CHECK(one.is_depthwise());
        CHECK_FALSE(one.is_channelwise());
        const Conv2dShape pw{.n = 1, .c_in = 4, .h = 5, .w = 5, .c_out = 6, .k = 1};
        CHECK(pw.is_pointwise());
        CHECK_FALSE(pw.is_depthwise());
        Conv2dShape strided = pw;
        strided.stride = 2;
        CHECK_FALSE(strided.is_pointwise());
    }

    TEST_CASE("conv2d shape: source_index inverts p = i*stride - pad + a*dil inside [0, n_out)") {
        const Conv2dShape s{
            .n = 1, .c_in = 1, .h = 9, .w = 9, .c_out = 1, .k = 3, .stride = 2, .pad = 2, .dil = 2};
        const int n_out = s.ho();
        for (int p = 0; p < s.h; ++p)
            for (int a = 0; a < s.k; ++a) {
                int want = -1;
                for (int i = 0; i < n_out; ++i)
                    if (i * s.stride - s.pad + a * s.dil == p) want = i;
                CHECK(s.source_index(p, a, n_out) == want);
            }
    }

    TEST_CASE("conv2d fwd: matches a hand-computed 3x3 kernel on a 3x3 image with padding 1") {
        const Conv2dShape s{.n = 1, .c_in = 1, .h = 3, .w = 3, .c_out = 1, .k = 3, .pad = 1};
        CHECK(fwd(kHandX, kHandW, s) == std::vector<float>{-4, -4, 3, -2, 1, 14, 15, 22, 26});
    }

    TEST_CASE("conv2d fwd: stride 2 keeps the even positions of the stride-1 hand case") {
        const Conv2dShape s{
            .n = 1, .c_in = 1, .h = 3, .w = 3, .c_out = 1, .k = 3, .stride = 2, .pad = 1};
        CHECK(fwd(kHandX, kHandW, s) == std::vector<float>{-4, 3, 15, 26});
    }

    TEST_CASE("conv2d fwd: dilation 2 with padding 2 matches a hand-computed case") {
        // y[i,j] = x[i-2,j-2] + 2 x[i-2,j] + x[i,j] - x[i+2,j+2]
        const Conv2dShape s{
            .n = 1, .c_in = 1, .h = 3, .w = 3, .c_out = 1, .k = 3, .pad = 2, .dil = 2};
        CHECK(fwd(kHandX, kHandW, s) == std::vector<float>{-8, 2, 3, 4, 5, 6, 9, 12, 16});
    }

    TEST_CASE("conv2d fwd: depthwise keeps channels apart and 1x1 mixes them") {
        // Two channels of ones; depthwise weights 2 and 3 scale each channel alone, while a 1x1
        // conv with rows (1, 10) and (100, 1000) sums the channels with those weights (GEMM path).
        const std::vector<float> x = {1, 1, 1, 1, 2, 2, 2, 2};
        const Conv2dShape dws{.n = 1, .c_in = 2, .h = 2, .w = 2, .c_out = 2, .k = 1, .groups = 2};
        CHECK(fwd(x, {2, 3}, dws) == std::vector<float>{2, 2, 2, 2, 6, 6, 6, 6});
        const Conv2dShape pws{.n = 1, .c_in = 2, .h = 2, .w = 2, .c_out = 2, .k = 1};
        CHECK(fwd(x, {1, 10, 100, 1000}, pws) ==
              std::vector<float>{21, 21, 21, 21, 2100, 2100, 2100, 2100});
    }

    TEST_CASE("conv2d: fwd, bwd_data and bwd_weight match naive loops on every shape") {
        for (const Conv2dShape& s : shape_list()) {
            CAPTURE(s);
            const ConvOperands o = operands(s, 11);
            const auto [dx, dw] = bwd(o, s);
            // Sums are double on the loops but float in the 1x1 GEMM: tolerances follow STYLE.md.
            const double t_fwd = tol_for_sum(int64_t(s.cin_per_group()) * s.k * s.k);
            const double t_data = tol_for_sum(int64_t(s.cout_per_group()) * s.k * s.k);
            const double t_weight = tol_for_sum(int64_t(s.n) * s.ho() * s.wo());
            const NaiveConv want = naive(o, s);
            check_close(fwd(o.x, o.w, s), want.y, t_fwd, t_fwd, "y");
            check_close(dx, want.dx, t_data, t_data, "dx");
            check_close(dw, want.dw, t_weight, t_weight, "dw");
        }
    }

    TEST_CASE("conv2d bwd: dx and dw match central differences") {
        for (const Conv2dShape& s : grad_shapes()) {
            CAPTURE(s);
            const ConvOperands o = operands(s, 21);
            const auto& [x, w, r] = o;  // loss = sum_i r_i y_i, so dy = r
            const auto loss_x = [&](const std::vector<float>& xv) { return dot(r, fwd(xv, w, s)); };
            const auto loss_w = [&](const std::vector<float>& wv) { return dot(r, fwd(x, wv, s)); };

            const auto [dx, dw] = bwd(o, s);
            check_grad(dx, numeric_grad(loss_x, x), "dx");
            check_grad(dw, numeric_grad(loss_w, w), "dw");
        }
    }

    TEST_CASE(
        "conv2d bwd: adjoint identities <dy, conv x> = <bwd_data dy, x> = <bwd_weight dy, w>") {
        // The convolution is bilinear, so both backward maps are exact transposes of the forward
        // one.
        for (const Conv2dShape& s : shape_list()) {
            CAPTURE(s);
            const ConvOperands o = operands(s, 31);
            const auto [dx, dw] = bwd(o, s);
            const double forward = dot(o.dy, fwd(o.x, o.w, s));
            CHECK(dot(dx, o.x) == doctest::Approx(forward).epsilon(1e-5));
            CHECK(dot(dw, o.w) == doctest::Approx(forward).epsilon(1e-5));
        }
    }

    TEST_CASE("conv2d bwd: overwrite replaces and accumulate adds, on the loops and the GEMM") {
        for (const Conv2dShape& s : mode_shapes()) check_grad_modes(s);
    }

    TEST_CASE("conv2d bwd_weight: an empty batch overwrites dw with zeros") {
        for (const int k : {1, 3}) {
            const Conv2dShape s{
                .n = 0, .c_in = 3, .h = 5, .w = 5, .c_out = 4, .k = k, .pad = k / 2};
            CAPTURE(s);
            std::vector<float> dw(size_t(s.weight_elems()), 7.f);
            cpu::conv2d_bwd_weight(dw.data(), nullptr, nullptr, s, GradMode::kOverwrite);
            CHECK(dw == std::vector<float>(dw.size(), 0.f));
        }
    }

    TEST_CASE("conv2d validate: rejects bad shapes, naming the field and the shape") {
        const Conv2dShape good{
            .n = 1, .c_in = 4, .h = 5, .w = 5, .c_out = 6, .k = 3, .pad = 1, .groups = 2};
        CHECK_NOTHROW(good.validate());
        const auto with = [&](auto edit) {
            Conv2dShape s = good;
            edit(s);
            return s;
        };
        const std::vector<std::pair<Conv2dShape, const char*>> bad = {
            {with([](Conv2dShape& s) { s.n = -1; }), ": n must"},
            {with([](Conv2dShape& s) { s.c_in = 0; }), ": c_in must"},
            {with([](Conv2dShape& s) { s.h = 0; }), ": h must"},
            {with([](Conv2dShape& s) { s.c_out = 0; }), ": c_out must"},
            {with([](Conv2dShape& s) { s.k = 0; }), ": k must"},
            {with([](Conv2dShape& s) { s.stride = 0; }), ": stride must"},
            {with([](Conv2dShape& s) { s.pad = -1; }), ": pad must"},
            {with([](Conv2dShape& s) { s.dil = 0; }), ": dil must"},
            {with([](Conv2dShape& s) { s.groups = 3; }), "c_in not divisible by groups"},
            {with([](Conv2dShape& s) { s.c_out = 5; }), "c_out not divisible by groups"},
            // Unpadded windows too large for the input: written out whole, as several fields move.
            {{.n = 1, .c_in = 4, .h = 5, .w = 5, .c_out = 6, .k = 7, .groups = 2}, "ho() < 1"},
            // ho() itself would say 1 here: (3 - 4 - 1) / 3 truncates to 0
            {{.n = 1, .c_in = 4, .h = 3, .w = 5, .c_out = 6, .k = 5, .stride = 3, .groups = 2},
             "ho() < 1"},
            {{.n = 1, .c_in = 4, .h = 5, .w = 4, .c_out = 6, .k = 3, .dil = 2, .groups = 2},
             "wo() < 1"},
        };
        for (const auto& [s, field] : bad) {
            CAPTURE(s);
            CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains(field), cudarts::Error);
            CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("Conv2dShape{"), cudarts::Error);
        }
        std::vector<float> buf(4096, 1.f);
        CHECK_THROWS_AS(cpu::conv2d_fwd(buf.data(), buf.data(), buf.data(), bad.front().first),
                        cudarts::Error);
    }

    TEST_CASE("conv2d shape: prints every field") {
        // Positional, so the printed form must also name the fields in their declared order.
        const Conv2dShape s{3, 5, 7, 6, 8, 3, 2, 2, 2, 1};
        std::ostringstream os;
        os << s;
        CHECK(os.str() ==
              "Conv2dShape{n=3 c_in=5 h=7 w=6 c_out=8 k=3 stride=2 pad=2 dil=2 groups=1}");
    }

}  // TEST_SUITE("conv")

}  // namespace cudarts
