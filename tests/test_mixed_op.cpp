// The DARTS mixed edge: a hand-computed sum, central-difference gradients for every candidate
// output, the weights and the logits, the fused softmax form against its unfused composition,
// and `none` candidates (null ys) and unwanted gradients (null dys).
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/mixed_op.h"
#include "kernels/softmax.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

constexpr int kK = 4;
constexpr int64_t kN = 3 * 5 * 7;  // one odd N*C*H*W feature map
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// K candidate outputs, random, and the pointer table the kernels take.
struct Candidates {
    std::vector<std::vector<float>> data;
    std::vector<const float*> ptrs;
    explicit Candidates(uint64_t seed) {
        for (int k = 0; k < kK; ++k) data.push_back(uniform(kN, seed + uint64_t(k)));
        for (const auto& d : data) ptrs.push_back(d.data());
    }
};

// mixed_sum_bwd or mixed_softmax_sum_bwd: (dys, d weights, dout, ys, weights, K, n, mode).
using MixedBwd = void (*)(float* const*, float*, const float*, const float* const*, const float*,
                          int, int64_t, GradMode);

// Every candidate's dy_k, alone (the other dys null), in both modes, against central differences
// of loss_with(ys, weights) with y_k varied; r is the upstream gradient dout.
void check_every_dy_k(const Candidates& c, MixedBwd bwd, const std::vector<float>& r,
                      const std::vector<float>& weights,
                      const std::function<double(const float* const*, const float*)>& loss_with) {
    for (int k = 0; k < kK; ++k) {
        CAPTURE(k);
        const auto loss = [&](const std::vector<float>& yk) {
            std::vector<const float*> ys = c.ptrs;
            ys[size_t(k)] = yk.data();
            return loss_with(ys.data(), weights.data());
        };
        check_grad_modes(
            [&](float* dyk, GradMode m) {
                std::vector<float*> dys(kK, nullptr);
                dys[size_t(k)] = dyk;
                std::vector<float> dweights(kK);
                bwd(dys.data(), dweights.data(), r.data(), c.ptrs.data(), weights.data(), kK, kN,
                    m);
            },
            numeric_grad(loss, c.data[size_t(k)]), "dy_k");
    }
}

}  // namespace

TEST_SUITE("mixed_op") {
    TEST_CASE("mixed_sum fwd: hand-computed weighted sum with a none candidate") {
        const std::vector<float> y0 = {1.f, 2.f, -4.f}, y2 = {8.f, 0.f, 4.f}, y3 = {2.f, 2.f, 2.f};
        const float* ys[4] = {y0.data(), nullptr, y2.data(), y3.data()};
        const float w[4] = {0.5f, 0.125f, 0.25f, 0.125f};
        std::vector<float> out(3, kNaN);
        cpu::mixed_sum_fwd(out.data(), ys, w, 4, 3);
        // 0.5 y0 + 0.25 y2 + 0.125 y3; the none candidate's weight 0.125 multiplies nothing.
        check_close(out, std::vector<float>{2.75f, 1.25f, -0.75f}, 0, 0, "out");
    }

    TEST_CASE("mixed_node fwd: each edge's mixed_sum_fwd, the edges added in order in float") {
        // 3 edges of 4 candidates, the first of each `none`.
        std::vector<std::vector<float>> ys;
        std::vector<const float*> ptrs;
        for (int k = 0; k < 12; ++k) ys.push_back(uniform(kN, 30 + uint64_t(k)));
        for (int k = 0; k < 12; ++k) ptrs.push_back(k % 4 == 0 ? nullptr : ys[size_t(k)].data());
        const std::vector<float> w = uniform(12, 50);
        const size_t n = static_cast<size_t>(kN);
        std::vector<float> out(n, kNaN), want(n), edge(n);
        cpu::mixed_node_fwd(out.data(), ptrs.data(), w.data(), 12, 4, kN);
        for (int e = 0; e < 3; ++e) {
            cpu::mixed_sum_fwd(edge.data(), ptrs.data() + 4 * e, w.data() + 4 * e, 4, kN);
            for (int64_t i = 0; i < kN; ++i)
                want[size_t(i)] = e == 0 ? edge[size_t(i)] : want[size_t(i)] + edge[size_t(i)];
        }
        CHECK(out == want);
        // One edge of all 12 is mixed_sum_fwd itself.
        cpu::mixed_node_fwd(out.data(), ptrs.data(), w.data(), 12, 12, kN);
        cpu::mixed_sum_fwd(want.data(), ptrs.data(), w.data(), 12, kN);
        CHECK(out == want);
        CHECK_THROWS_AS(cpu::mixed_node_fwd(out.data(), ptrs.data(), w.data(), 12, 5, kN), Error);
        CHECK_THROWS_AS(cpu::mixed_node_fwd(out.data(), ptrs.data(), w.data(), 12, 0, kN), Error);
    }

    TEST_CASE("mixed_sum bwd: every dy_k and dw match central differences") {
        Candidates c(/*seed=*/10);
        const std::vector<float> w = uniform(kK, /*seed=*/20, 0.f, 1.f);
        const std::vector<float> r = uniform(kN, /*seed=*/21);
        const auto loss_with = [&](const float* const* ys, const float* wv) {
            std::vector<float> out(kN, 0.f);
            cpu::mixed_sum_fwd(out.data(), ys, wv, kK, kN);
            return dot(r, out);
        };
        check_every_dy_k(c, cpu::mixed_sum_bwd, r, w, loss_with);
        const auto loss_w = [&](const std::vector<float>& wv) {
            return loss_with(c.ptrs.data(), wv.data());
        };
        check_grad_modes(
            [&](float* dw, GradMode m) {
                std::vector<float*> dys(kK, nullptr);
                cpu::mixed_sum_bwd(dys.data(), dw, r.data(), c.ptrs.data(), w.data(), kK, kN, m);
            },
            numeric_grad(loss_w, w), "dw");
    }

    TEST_CASE("mixed_sum bwd: a none candidate gets no gradient and weight gradient 0") {
        Candidates c(/*seed=*/30);
        c.ptrs[1] = nullptr;
        const std::vector<float> w = uniform(kK, /*seed=*/31, 0.f, 1.f);
        const std::vector<float> dout = uniform(kN, /*seed=*/32);
        std::vector<std::vector<float>> dy(kK, std::vector<float>(kN, 5.f));
        std::vector<float*> dys = {dy[0].data(), dy[1].data(), nullptr, dy[3].data()};

        std::vector<float> dw(kK, kNaN);
        cpu::mixed_sum_bwd(dys.data(), dw.data(), dout.data(), c.ptrs.data(), w.data(), kK, kN,
                           GradMode::kOverwrite);
        CHECK(dw[1] == 0.f);
        for (float v : dy[1]) REQUIRE(v == 5.f);  // the buffer passed for `none` is left alone
        CHECK(dw[2] == doctest::Approx(dot(dout, c.data[2])));  // no dy wanted, dw still computed
        std::vector<double> want(kN);
        for (int64_t i = 0; i < kN; ++i) want[size_t(i)] = double(w[3]) * dout[size_t(i)];
        check_close(dy[3], want, 1e-6, 0, "dy_3");

        const std::vector<float> dw_before = {1.f, 2.f, 3.f, 4.f};
        dw = dw_before;
        cpu::mixed_sum_bwd(dys.data(), dw.data(), dout.data(), c.ptrs.data(), w.data(), kK, kN,
                           GradMode::kAccumulate);
        CHECK(dw[1] == 2.f);
        for (float v : dy[1]) REQUIRE(v == 5.f);
    }

    TEST_CASE("mixed_softmax_sum fwd: equals softmax_fwd followed by mixed_sum_fwd") {
        Candidates c(/*seed=*/40);
        c.ptrs[2] = nullptr;
        const std::vector<float> alpha = uniform(kK, /*seed=*/41);
        std::vector<float> w(kK), want(kN), got(kN, kNaN);
        cpu::softmax_fwd(w.data(), alpha.data(), 1, kK);
        cpu::mixed_sum_fwd(want.data(), c.ptrs.data(), w.data(), kK, kN);
        cpu::mixed_softmax_sum_fwd(got.data(), c.ptrs.data(), alpha.data(), kK, kN);
        check_close(got, want, 1e-6, 1e-7, "fused vs unfused");
    }

    TEST_CASE("mixed_softmax_sum bwd: dalpha is softmax_bwd of dw, dy_k is w_k dout") {
        Candidates c(/*seed=*/50);
        c.ptrs[0] = nullptr;
        const std::vector<float> alpha = uniform(kK, /*seed=*/51);
        const std::vector<float> dout = uniform(kN, /*seed=*/52);
        std::vector<float> w(kK), dw(kK), want_dalpha(kK);
        cpu::softmax_fwd(w.data(), alpha.data(), 1, kK);
        std::vector<float*> none(kK, nullptr);
        cpu::mixed_sum_bwd(none.data(), dw.data(), dout.data(), c.ptrs.data(), w.data(), kK, kN,
                           GradMode::kOverwrite);
        cpu::softmax_bwd(want_dalpha.data(), dw.data(), w.data(), 1, kK, GradMode::kOverwrite);

        std::vector<std::vector<float>> dy(kK, std::vector<float>(kN, kNaN));
        std::vector<float*> dys = {dy[0].data(), dy[1].data(), dy[2].data(), dy[3].data()};
        std::vector<float> dalpha(kK, kNaN);
        cpu::mixed_softmax_sum_bwd(dys.data(), dalpha.data(), dout.data(), c.ptrs.data(),
                                   alpha.data(), kK, kN, GradMode::kOverwrite);
        check_close(dalpha, want_dalpha, 1e-6, 1e-7, "dalpha");
        for (float v : dy[0]) REQUIRE(std::isnan(v));  // `none`: untouched
        for (int k = 1; k < kK; ++k) {
            CAPTURE(k);
            std::vector<double> want(kN);
            for (int64_t i = 0; i < kN; ++i)
                want[size_t(i)] = double(w[size_t(k)]) * dout[size_t(i)];
            check_close(dy[size_t(k)], want, 1e-6, 0, "dy_k");
        }
    }

    TEST_CASE("mixed_softmax_sum bwd: dalpha and every dy_k match central differences") {
        Candidates c(/*seed=*/60);
        const std::vector<float> alpha = uniform(kK, /*seed=*/61);
        const std::vector<float> r = uniform(kN, /*seed=*/62);
        const auto loss_with = [&](const float* const* ys, const float* a) {
            std::vector<float> out(kN, 0.f);
            cpu::mixed_softmax_sum_fwd(out.data(), ys, a, kK, kN);
            return dot(r, out);
        };
        const auto loss_alpha = [&](const std::vector<float>& a) {
            return loss_with(c.ptrs.data(), a.data());
        };
        check_grad_modes(
            [&](float* dalpha, GradMode m) {
                std::vector<float*> dys(kK, nullptr);
                cpu::mixed_softmax_sum_bwd(dys.data(), dalpha, r.data(), c.ptrs.data(),
                                           alpha.data(), kK, kN, m);
            },
            numeric_grad(loss_alpha, alpha), "dalpha");
        check_every_dy_k(c, cpu::mixed_softmax_sum_bwd, r, alpha, loss_with);
    }

}  // TEST_SUITE
