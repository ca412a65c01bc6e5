// Zero padding and the per-channel bias add (kernels/pad.h,
// autograd/ops_pad.cpp) on the CPU: a hand example of each op forward and
// backward, in both GradModes and through the autograd ops; the backwards
// against central differences on random inputs at the kernel and the tape
// level; and the shapes both refuse with InputError.
#include <string>
#include <vector>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "kernels/check.h"
#include "kernels/pad.h"
#include "tests/grad_cases.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

// Odd sizes, the Keras stride-2 'same' pads (0 above and left, 1 below and
// right), one-sided and wide pads.
const Pad2dShape kPadShapes[] = {
    {.n = 2, .c = 3, .h = 7, .w = 7, .top = 0, .bottom = 1, .left = 0, .right = 1},
    {.n = 1, .c = 2, .h = 5, .w = 8, .top = 2, .bottom = 0, .left = 3, .right = 0},
    {.n = 3, .c = 1, .h = 1, .w = 1, .top = 1, .bottom = 2, .left = 3, .right = 4},
    {.n = 1, .c = 2, .h = 4, .w = 3, .top = 0, .bottom = 0, .left = 0, .right = 0},
};
const ChannelBiasShape kBiasShapes[] = {{.n = 3, .c = 5, .hw = 7}, {.n = 4, .c = 3, .hw = 1}};

std::vector<float> pad(const std::vector<float> &x, const Pad2dShape &s) {
    std::vector<float> y(size_t(s.out_elems()));
    cpu::pad2d_fwd(y.data(), x.data(), s);
    return y;
}

std::vector<float> biased(const std::vector<float> &x, const std::vector<float> &b,
                          const ChannelBiasShape &s) {
    std::vector<float> y(size_t(s.elems()));
    cpu::channel_bias_fwd(y.data(), x.data(), b.data(), s);
    return y;
}

std::vector<float> iota(int n, float first = 1.f) {
    std::vector<float> v;
    for (int i = 0; i < n; ++i) v.push_back(first + float(i));
    return v;
}

}  // namespace

TEST_SUITE("pad") {
    TEST_CASE("pad2d by hand: 2x3 padded 1 above and 1 right, dx the window of dy") {
        const Pad2dShape s{.n = 1, .c = 1, .h = 2, .w = 3, .top = 1, .right = 1};
        CHECK(s.ho() == 3);
        CHECK(s.wo() == 4);
        CHECK(pad(iota(6), s) == std::vector<float>{0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0});
        const std::vector<float> dy = iota(12);  // rows 1 2 3 4 / 5 6 7 8 / 9 10 11 12
        std::vector<float> dx = nans(6);
        cpu::pad2d_bwd(dx.data(), dy.data(), s, GradMode::kOverwrite);
        CHECK(dx == std::vector<float>{5, 6, 7, 9, 10, 11});
        cpu::pad2d_bwd(dx.data(), dy.data(), s, GradMode::kAccumulate);
        CHECK(dx == std::vector<float>{10, 12, 14, 18, 20, 22});

        // The same through the op; x used twice, so its gradient is the window
        // twice.
        Var x(Tensor::from_vector(iota(6), {1, 1, 2, 3}), true, "x");
        const Var y = pad2d(x, 1, 0, 0, 1);
        CHECK(y.shape() == Shape{1, 1, 3, 4});
        CHECK(y.value().to_vector() == pad(iota(6), s));
        const Var r(Tensor::from_vector(dy, {1, 1, 3, 4}));
        backward(sum(mul(add(y, pad2d(x, 1, 0, 0, 1)), r)));
        CHECK(x.grad().to_vector() == std::vector<float>{10, 12, 14, 18, 20, 22});
    }

    TEST_CASE("pad2d with no padding returns x itself") {
        const Var x = leaf({2, 3, 4, 5}, 1, "x");
        const Var y = pad2d(x, 0, 0, 0, 0);
        CHECK(y.data() == x.data());
    }

    TEST_CASE(
        "channel_bias by hand: (2, 2, 2) plus (10, 20), db the per-channel "
        "sum of dy") {
        const ChannelBiasShape s{.n = 2, .c = 2, .hw = 2};
        const std::vector<float> b{10, 20};
        CHECK(biased(iota(8, 0.f), b, s) == std::vector<float>{10, 11, 22, 23, 14, 15, 26, 27});
        const std::vector<float> dy = iota(8);
        std::vector<float> db = nans(2), dx = nans(8);
        cpu::channel_bias_bwd_bias(db.data(), dy.data(), s, GradMode::kOverwrite);
        CHECK(db == std::vector<float>{1 + 2 + 5 + 6, 3 + 4 + 7 + 8});
        cpu::channel_bias_bwd_bias(db.data(), dy.data(), s, GradMode::kAccumulate);
        CHECK(db == std::vector<float>{28, 44});
        cpu::channel_bias_bwd_data(dx.data(), dy.data(), s, GradMode::kOverwrite);
        CHECK(dx == dy);
        cpu::channel_bias_bwd_data(dx.data(), dy.data(), s, GradMode::kAccumulate);
        CHECK(dx == std::vector<float>{2, 4, 6, 8, 10, 12, 14, 16});

        // The same through the op, on an (n, c, h, w) x and on an (n, c) matrix.
        Var x(Tensor::from_vector(iota(8, 0.f), {2, 2, 1, 2}), true, "x");
        Var bv(Tensor::from_vector(b, {2}), true, "b");
        const Var y = channel_bias(x, bv);
        CHECK(y.shape() == Shape{2, 2, 1, 2});
        CHECK(y.value().to_vector() == biased(iota(8, 0.f), b, s));
        backward(sum(mul(y, Var(Tensor::from_vector(dy, {2, 2, 1, 2})))));
        CHECK(x.grad().to_vector() == dy);
        CHECK(bv.grad().to_vector() == std::vector<float>{14, 22});
        Var m(Tensor::from_vector(iota(4), {2, 2}), true, "m");
        backward(sum(mul(channel_bias(m, bv), Var(Tensor::from_vector(iota(4), {2, 2})))));
        CHECK(bv.grad().to_vector() == std::vector<float>{1 + 3, 2 + 4});
        CHECK(m.grad().to_vector() == iota(4));
    }

    TEST_CASE(
        "pad2d bwd: central differences in both GradModes on odd and "
        "asymmetric pads") {
        for (const Pad2dShape &s : kPadShapes) {
            CAPTURE(s);
            const std::vector<float> x = uniform(s.in_elems(), 1), r = uniform(s.out_elems(), 2);
            const auto loss = [&](const std::vector<float> &v) { return dot(r, pad(v, s)); };
            check_grad_modes([&](float *d, GradMode m) { cpu::pad2d_bwd(d, r.data(), s, m); },
                             numeric_grad(loss, x), "dx");
        }
    }

    TEST_CASE("channel_bias bwd: central differences for dx and db in both GradModes") {
        for (const ChannelBiasShape &s : kBiasShapes) {
            CAPTURE(s);
            const auto [x, b, r] = uniforms({s.elems(), s.c, s.elems()}, 3);
            const auto loss_x = [&](const std::vector<float> &v) {
                return dot(r, biased(v, b, s));
            };
            const auto loss_b = [&](const std::vector<float> &v) {
                return dot(r, biased(x, v, s));
            };
            check_grad_modes(
                [&](float *d, GradMode m) { cpu::channel_bias_bwd_data(d, r.data(), s, m); },
                numeric_grad(loss_x, x), "dx");
            check_grad_modes(
                [&](float *d, GradMode m) { cpu::channel_bias_bwd_bias(d, r.data(), s, m); },
                numeric_grad(loss_b, b), "db");
        }
    }

    TEST_CASE(
        "pad2d and channel_bias ops: grad_check on random inputs, alone "
        "and composed") {
        const Var x = leaf({2, 3, 5, 4}, 11, "x");
        const Var b = leaf({3}, 12, "b");
        const Var m = leaf({4, 3}, 13, "m");
        expect_ok(grad_check([&] { return probe(pad2d(x, 0, 1, 0, 1)); }, {x}));
        expect_ok(grad_check([&] { return probe(pad2d(x, 2, 0, 1, 3)); }, {x}));
        expect_ok(grad_check([&] { return probe(channel_bias(x, b)); }, {x, b}));
        expect_ok(grad_check([&] { return probe(channel_bias(m, b)); }, {m, b}));
        // A biased, padded map: b reaches only the window, the border stays zero.
        expect_ok(grad_check([&] { return probe(pad2d(channel_bias(x, b), 1, 0, 1, 0)); }, {x, b}));
    }

    TEST_CASE("bad shapes are refused with an InputError naming what is wrong") {
        const Pad2dShape neg{.n = 1, .c = 1, .h = 2, .w = 2, .left = -1};
        CHECK(error_of([&] { neg.validate(); }).find("left must be >= 0") != std::string::npos);
        CHECK_THROWS_AS((Pad2dShape{.n = 1, .c = 1, .h = -2, .w = 2}.validate()), InputError);
        CHECK_THROWS_AS((ChannelBiasShape{.n = 1, .c = -1, .hw = 2}.validate()), InputError);
        std::vector<float> v(4, 1.f);
        CHECK_THROWS_AS(cpu::pad2d_fwd(v.data(), v.data(), neg), InputError);

        const Var x = leaf({2, 3, 4, 4}, 21, "x");
        CHECK(error_of([&] { pad2d(x, 0, -1, 0, 0); }).find("bottom") != std::string::npos);
        CHECK(error_of([&] {
                  pad2d(leaf({3, 4, 4}, 22, "x"), 1, 1, 1, 1);
              }).find("NCHW") != std::string::npos);
        CHECK(error_of([&] { channel_bias(x, leaf({4}, 23, "b")); }).find("channel_bias") !=
              std::string::npos);
        CHECK(error_of([&] {
                  channel_bias(leaf({6}, 24, "x"), leaf({6}, 25, "b"));
              }).find("channel_bias") != std::string::npos);
    }

}  // TEST_SUITE("pad")
