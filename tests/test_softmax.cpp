// Softmax family and losses: forwards against a naive double-precision loop and hand-computed
// values, stability on huge logits, central-difference gradients in both write modes,
// label checking and top-k counting with ties.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/softmax.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

constexpr int kRows = 3, kCols = 7;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// exp(x) / sum exp(x) without the max shift: fine for the small inputs it is used on.
std::vector<double> naive_softmax(const std::vector<float>& x, int rows, int cols) {
    std::vector<double> y(x.size());
    for (int r = 0; r < rows; ++r) {
        double s = 0;
        for (int j = 0; j < cols; ++j) s += std::exp(double(x[r * cols + j]));
        for (int j = 0; j < cols; ++j) y[r * cols + j] = std::exp(double(x[r * cols + j])) / s;
    }
    return y;
}

using RowFwd = void (*)(float*, const float*, int, int);
using RowBwd = void (*)(float*, const float*, const float*, int, int, GradMode);

// A row-wise op's backward, in both modes, against central differences of loss = sum r * fwd(x),
// with x and r from seeds seed and seed + 1.
void check_row_bwd(RowFwd fwd, RowBwd bwd, uint64_t seed, const char* name) {
    const std::vector<float> x = uniform(kRows * kCols, seed), r = uniform(x.size(), seed + 1);
    std::vector<float> y(x.size());
    fwd(y.data(), x.data(), kRows, kCols);
    const auto loss = [&](const std::vector<float>& xv) {
        std::vector<float> yv(xv.size());
        fwd(yv.data(), xv.data(), kRows, kCols);
        return dot(r, yv);
    };
    check_grad_modes([&](float* dx, GradMode m) { bwd(dx, r.data(), y.data(), kRows, kCols, m); },
                     numeric_grad(loss, x), name);
}

double row_sum(const std::vector<float>& y, int r, int cols) {
    double s = 0;
    for (int j = 0; j < cols; ++j) s += y[r * cols + j];
    return s;
}

}  // namespace

TEST_SUITE("softmax") {
    TEST_CASE("softmax fwd: matches the naive formula and rows sum to 1") {
        const std::vector<float> x = uniform(kRows * kCols, /*seed=*/1, -3.f, 3.f);
        std::vector<float> y(x.size());
        cpu::softmax_fwd(y.data(), x.data(), kRows, kCols);
        check_close(y, naive_softmax(x, kRows, kCols), 1e-6, 1e-8, "softmax");
        for (int r = 0; r < kRows; ++r)
            CHECK(row_sum(y, r, kCols) == doctest::Approx(1.0).epsilon(1e-6));
    }

    TEST_CASE("log_softmax fwd: is the log of the naive softmax") {
        const std::vector<float> x = uniform(kRows * kCols, /*seed=*/2, -3.f, 3.f);
        std::vector<float> y(x.size());
        cpu::log_softmax_fwd(y.data(), x.data(), kRows, kCols);
        std::vector<double> want = naive_softmax(x, kRows, kCols);
        for (double& v : want) v = std::log(v);
        check_close(y, want, 1e-6, 1e-6, "log_softmax");
    }

    TEST_CASE("softmax fwd: adding a constant to a row changes nothing") {
        const std::vector<float> x = uniform(kRows * kCols, /*seed=*/3);
        std::vector<float> shifted = x;
        for (float& v : shifted) v += 20.f;
        std::vector<float> y(x.size()), ys(x.size());
        cpu::softmax_fwd(y.data(), x.data(), kRows, kCols);
        cpu::softmax_fwd(ys.data(), shifted.data(), kRows, kCols);
        check_close(ys, y, 1e-5, 1e-7, "softmax(x + 20) vs softmax(x)");
        cpu::log_softmax_fwd(y.data(), x.data(), kRows, kCols);
        cpu::log_softmax_fwd(ys.data(), shifted.data(), kRows, kCols);
        check_close(ys, y, 1e-5, 1e-5, "log_softmax(x + 20) vs log_softmax(x)");
    }

    TEST_CASE("softmax fwd: logits of 1e4 stay finite") {
        const std::vector<float> x = {1e4f, 0.f, -1e4f, 1e4f, 1e4f, 1e4f - 1.f};
        std::vector<float> y(x.size()), ly(x.size());
        cpu::softmax_fwd(y.data(), x.data(), 2, 3);
        cpu::log_softmax_fwd(ly.data(), x.data(), 2, 3);
        for (size_t i = 0; i < x.size(); ++i) {
            CAPTURE(i);
            CHECK(std::isfinite(y[i]));
            CHECK(std::isfinite(ly[i]));
        }
        CHECK(y[0] == 1.f);
        CHECK(y[1] == 0.f);
        CHECK(ly[1] == doctest::Approx(-1e4));
        CHECK(ly[2] == doctest::Approx(-2e4));
        // Second row: two equal maxima and one 1 below, so e = exp(-1) and the rows are known.
        const double e = std::exp(-1.0), s = 2 + e;
        check_close({y[3], y[4], y[5]}, std::vector<double>{1 / s, 1 / s, e / s}, 1e-6, 0,
                    "tied huge row");

        const std::vector<float> big = uniform(kRows * kCols, /*seed=*/4, -1e4f, 1e4f);
        std::vector<float> yb(big.size());
        cpu::softmax_fwd(yb.data(), big.data(), kRows, kCols);
        for (int r = 0; r < kRows; ++r) CHECK(row_sum(yb, r, kCols) == doctest::Approx(1.0));
    }

    TEST_CASE("softmax bwd: matches central differences") {
        check_row_bwd(cpu::softmax_fwd, cpu::softmax_bwd, /*seed=*/5, "softmax");
    }

    TEST_CASE("log_softmax bwd: matches central differences") {
        check_row_bwd(cpu::log_softmax_fwd, cpu::log_softmax_bwd, /*seed=*/7, "log_softmax");
    }

    TEST_CASE("nll_loss: value matches the naive mean and bwd matches central differences") {
        const std::vector<float> logp = uniform(kRows * kCols, /*seed=*/9, -3.f, 0.f);
        const std::vector<int32_t> lab = labels(kRows, kCols, /*seed=*/10);
        double want = 0;
        for (int r = 0; r < kRows; ++r) want -= logp[r * kCols + lab[r]];
        CHECK(cpu::nll_loss_fwd(logp.data(), lab.data(), kRows, kCols) ==
              doctest::Approx(want / kRows).epsilon(1e-6));

        const float dloss = 0.7f;  // not 1, so a dropped upstream factor shows
        const auto loss = [&](const std::vector<float>& lv) {
            return dloss * double(cpu::nll_loss_fwd(lv.data(), lab.data(), kRows, kCols));
        };
        check_grad_modes(
            [&](float* d, GradMode m) { cpu::nll_loss_bwd(d, dloss, lab.data(), kRows, kCols, m); },
            numeric_grad(loss, logp), "nll");
    }

    TEST_CASE("cross_entropy fwd: hand-computed values with and without smoothing") {
        // logits [0, ln 2, 0]: softmax = [1/4, 1/2, 1/4].
        const std::vector<float> logits = {0.f, float(std::log(2.0)), 0.f};
        const std::vector<int32_t> lab = {1};
        std::vector<float> logp(3);
        CHECK(cpu::cross_entropy_fwd(logp.data(), logits.data(), lab.data(), 1, 3, 0.f) ==
              doctest::Approx(-std::log(2.0 / 4.0)).epsilon(1e-6));
        check_close(logp, std::vector<double>{std::log(0.25), std::log(0.5), std::log(0.25)}, 1e-6,
                    0, "logp");
        // e = 0.1: t = [e/3, 1 - e + e/3, e/3], loss = -(2 t0 ln(1/4) + t1 ln(1/2)).
        const double e = 0.1, t0 = e / 3, t1 = 1 - e + e / 3;
        CHECK(cpu::cross_entropy_fwd(logp.data(), logits.data(), lab.data(), 1, 3, 0.1f) ==
              doctest::Approx(-(2 * t0 * std::log(0.25) + t1 * std::log(0.5))).epsilon(1e-6));
    }

    TEST_CASE(
        "cross_entropy fwd: without smoothing equals nll of log_softmax, averaged over rows") {
        const std::vector<float> x = uniform(kRows * kCols, /*seed=*/11, -2.f, 2.f);
        const std::vector<int32_t> lab = labels(kRows, kCols, /*seed=*/12);
        std::vector<float> logp(x.size()), ls(x.size());
        const float ce =
            cpu::cross_entropy_fwd(logp.data(), x.data(), lab.data(), kRows, kCols, 0.f);
        cpu::log_softmax_fwd(ls.data(), x.data(), kRows, kCols);
        CHECK(ce == doctest::Approx(cpu::nll_loss_fwd(ls.data(), lab.data(), kRows, kCols)));
    }

    TEST_CASE("cross_entropy bwd: matches central differences for smoothing 0 and 0.1") {
        const std::vector<float> x = uniform(kRows * kCols, /*seed=*/13, -2.f, 2.f);
        const std::vector<int32_t> lab = labels(kRows, kCols, /*seed=*/14);
        const float dloss = 1.3f;
        for (float smoothing : {0.f, 0.1f}) {
            CAPTURE(smoothing);
            std::vector<float> logp(x.size());
            cpu::cross_entropy_fwd(logp.data(), x.data(), lab.data(), kRows, kCols, smoothing);
            const auto loss = [&](const std::vector<float>& xv) {
                std::vector<float> lp(xv.size());
                return dloss * double(cpu::cross_entropy_fwd(lp.data(), xv.data(), lab.data(),
                                                             kRows, kCols, smoothing));
            };
            check_grad_modes(
                [&](float* d, GradMode m) {
                    cpu::cross_entropy_bwd(d, dloss, logp.data(), lab.data(), kRows, kCols,
                                           smoothing, m);
                },
                numeric_grad(loss, x), "cross_entropy");
        }
    }

    TEST_CASE("losses: a label outside [0, cols) throws naming the row and the label") {
        const std::vector<float> x = uniform(kRows * kCols, /*seed=*/15);
        std::vector<float> logp(x.size()), d(x.size());
        const std::vector<int32_t> bad = {0, 1, kCols}, negative = {-1, 0, 0};
        CHECK_THROWS_WITH_AS(
            cpu::cross_entropy_fwd(logp.data(), x.data(), bad.data(), kRows, kCols, 0.f),
            doctest::Contains("row 2 has label 7"), Error);
        CHECK_THROWS_WITH_AS(cpu::nll_loss_fwd(x.data(), negative.data(), kRows, kCols),
                             doctest::Contains("row 0 has label -1"), Error);
        CHECK_THROWS_AS(cpu::cross_entropy_bwd(d.data(), 1.f, logp.data(), bad.data(), kRows, kCols,
                                               0.f, GradMode::kOverwrite),
                        Error);
        CHECK_THROWS_AS(cpu::count_correct(x.data(), bad.data(), kRows, kCols, 1), Error);
    }

    TEST_CASE("count_correct: top-1 and top-5 on a hand case with ties") {
        // Ties go to the lower index: class j beats label l when x_j > x_l or (x_j == x_l, j < l).
        constexpr int kC = 6;
        const std::vector<float> x = {
            0.1f, 0.9f, 0.3f, 0.2f, 0.5f, 0.0f,  // label 1 is the clear maximum: rank 0
            0.5f, 0.5f, 0.1f, 0.1f, 0.1f, 0.1f,  // label 1 ties class 0, which wins: rank 1
            0.5f, 0.5f, 0.1f, 0.1f, 0.1f, 0.1f,  // label 0 wins the same tie: rank 0
            0.6f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f,  // label 5 is the minimum: rank 5
            0.6f, 0.5f, 0.4f, 0.3f, 0.3f, 0.1f,  // label 4 ties class 3: rank 4
        };
        const std::vector<int32_t> lab = {1, 1, 0, 5, 4};
        CHECK(cpu::count_correct(x.data(), lab.data(), 5, kC, 1) == 2);
        CHECK(cpu::count_correct(x.data(), lab.data(), 5, kC, 2) == 3);
        CHECK(cpu::count_correct(x.data(), lab.data(), 5, kC, 5) == 4);
        CHECK(cpu::count_correct(x.data(), lab.data(), 5, kC, 6) == 5);
        CHECK_THROWS_AS(cpu::count_correct(x.data(), lab.data(), 5, kC, 0), Error);
    }

    TEST_CASE("count_correct: a row with a NaN or infinite logit is wrong at every k") {
        // NaN compares false with everything, so a NaN row is beaten by no class; an infinite
        // label logit beats every finite class. Neither may count as correct.
        constexpr int kC = 4;
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        const std::vector<float> x = {
            0.1f, 0.9f, 0.3f, 0.2f,  // finite, label 1 is the maximum: correct
            nan,  nan,  nan,  nan,   // a diverged row
            0.1f, nan,  0.3f, 0.2f,  // NaN on the label only
            nan,  0.9f, 0.3f, 0.2f,  // NaN on another class only
            0.1f, inf,  0.3f, 0.2f,  // +inf on the label
            -inf, 0.9f, 0.3f, 0.2f,  // -inf on another class
            0.4f, 0.3f, 0.2f, 0.1f,  // finite, label 3 is the minimum: rank 3
        };
        const std::vector<int32_t> lab = {1, 1, 1, 1, 1, 1, 3};
        CHECK(cpu::count_correct(x.data(), lab.data(), 7, kC, 1) == 1);
        CHECK(cpu::count_correct(x.data(), lab.data(), 7, kC, 4) == 2);
        CHECK(cpu::count_correct(x.data() + kC, lab.data() + 1, 5, kC, kC) == 0);
    }

}  // TEST_SUITE
