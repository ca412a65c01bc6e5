// Elementwise ops: forwards against their closed forms evaluated in double, backwards against
// central differences of loss = sum_i r_i y_i, each backward in both write modes.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kernels/check.h"
#include "kernels/elementwise.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

constexpr int64_t kN = 37;  // odd, not a multiple of any vector width
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using Unary = void (*)(float*, const float*, int64_t);
using UnaryBwd = void (*)(float*, const float*, const float*, int64_t, GradMode);

void check_activation(Unary fwd, UnaryBwd bwd, const std::vector<float>& x, const char* name) {
    const int64_t n = int64_t(x.size());
    const std::vector<float> r = uniform(n, /*seed=*/5);
    std::vector<float> y(x.size());
    fwd(y.data(), x.data(), n);
    const auto loss = [&](const std::vector<float>& xv) {
        std::vector<float> yv(xv.size());
        fwd(yv.data(), xv.data(), n);
        return dot(r, yv);
    };
    const std::vector<double> numeric = numeric_grad(loss, x);
    check_grad_modes([&](float* dx, GradMode m) { bwd(dx, r.data(), y.data(), n, m); }, numeric,
                     name);
}

using Binary = void (*)(float*, const float*, const float*, int64_t);

// Central differences of loss = sum r * fwd(a, b), in a (first) and in b (second).
std::pair<std::vector<double>, std::vector<double>> binary_numeric_grads(
    Binary fwd, const std::vector<float>& a, const std::vector<float>& b,
    const std::vector<float>& r) {
    const auto loss = [&](const std::vector<float>& av, const std::vector<float>& bv) {
        std::vector<float> y(av.size());
        fwd(y.data(), av.data(), bv.data(), int64_t(av.size()));
        return dot(r, y);
    };
    return {numeric_grad([&](const std::vector<float>& av) { return loss(av, b); }, a),
            numeric_grad([&](const std::vector<float>& bv) { return loss(a, bv); }, b)};
}

}  // namespace

TEST_SUITE("elementwise") {
    TEST_CASE("activations fwd: relu, tanh and sigmoid match their closed forms") {
        std::vector<float> x = uniform(kN, /*seed=*/1, -4.f, 4.f);
        x[0] = 0.f;  // relu(0) = 0, tanh(0) = 0, sigmoid(0) = 1/2 exactly
        std::vector<float> y(x.size());
        std::vector<double> want(x.size());

        cpu::relu_fwd(y.data(), x.data(), kN);
        for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] > 0 ? x[i] : 0.0;
        check_close(y, want, 0, 0, "relu");

        cpu::tanh_fwd(y.data(), x.data(), kN);
        for (size_t i = 0; i < x.size(); ++i) want[i] = std::tanh(double(x[i]));
        check_close(y, want, 1e-6, 1e-7, "tanh");

        cpu::sigmoid_fwd(y.data(), x.data(), kN);
        for (size_t i = 0; i < x.size(); ++i) want[i] = 1.0 / (1.0 + std::exp(-double(x[i])));
        check_close(y, want, 1e-6, 1e-7, "sigmoid");
        CHECK(y[0] == 0.5f);
    }

    TEST_CASE("sigmoid fwd: saturates to exactly 0 and 1 without NaN") {
        const std::vector<float> x = {-200.f, 200.f};
        std::vector<float> y(2);
        cpu::sigmoid_fwd(y.data(), x.data(), 2);
        CHECK(y[0] == 0.f);
        CHECK(y[1] == 1.f);
    }

    TEST_CASE("binary fwd: add, mul and scale match their closed forms") {
        const std::vector<float> a = uniform(kN, /*seed=*/2), b = uniform(kN, /*seed=*/3);
        std::vector<float> y(a.size());
        std::vector<double> want(a.size());

        cpu::add_fwd(y.data(), a.data(), b.data(), kN);
        for (size_t i = 0; i < a.size(); ++i) want[i] = double(a[i]) + b[i];
        check_close(y, want, 1e-7, 0, "add");

        cpu::mul_fwd(y.data(), a.data(), b.data(), kN);
        for (size_t i = 0; i < a.size(); ++i) want[i] = double(a[i]) * b[i];
        check_close(y, want, 1e-7, 0, "mul");

        cpu::scale_fwd(y.data(), a.data(), -2.5f, kN);
        for (size_t i = 0; i < a.size(); ++i) want[i] = -2.5 * a[i];
        check_close(y, want, 1e-7, 0, "scale");
    }

    TEST_CASE("relu bwd: matches central differences away from the kink") {
        check_activation(cpu::relu_fwd, cpu::relu_bwd, away_from_zero(kN, /*seed=*/11), "relu");
    }

    TEST_CASE("relu bwd: the derivative at exactly 0 is 0") {
        const std::vector<float> y = {0.f, 1.f}, dy = {3.f, 3.f};
        std::vector<float> dx(2, kNaN);
        cpu::relu_bwd(dx.data(), dy.data(), y.data(), 2, GradMode::kOverwrite);
        CHECK(dx[0] == 0.f);
        CHECK(dx[1] == 3.f);
    }

    TEST_CASE("tanh bwd: matches central differences") {
        check_activation(cpu::tanh_fwd, cpu::tanh_bwd, uniform(kN, /*seed=*/12, -2.f, 2.f), "tanh");
    }

    TEST_CASE("sigmoid bwd: matches central differences") {
        check_activation(cpu::sigmoid_fwd, cpu::sigmoid_bwd, uniform(kN, /*seed=*/13, -3.f, 3.f),
                         "sigmoid");
    }

    TEST_CASE("add bwd: both inputs receive dy, as central differences show") {
        // add has no backward kernel: the tape sends dy to each input with copy().
        const std::vector<float> a = uniform(kN, /*seed=*/14), b = uniform(kN, /*seed=*/15);
        const std::vector<float> r = uniform(kN, /*seed=*/16);
        const auto [num_a, num_b] = binary_numeric_grads(cpu::add_fwd, a, b, r);
        const auto bwd = [&](float* d, GradMode m) { cpu::copy(d, r.data(), kN, m); };
        check_grad_modes(bwd, num_a, "add da");
        check_grad_modes(bwd, num_b, "add db");
    }

    TEST_CASE("mul bwd: da and db match central differences, and either may be skipped") {
        const std::vector<float> a = uniform(kN, /*seed=*/17), b = uniform(kN, /*seed=*/18);
        const std::vector<float> r = uniform(kN, /*seed=*/19);
        const auto [num_a, num_b] = binary_numeric_grads(cpu::mul_fwd, a, b, r);
        check_grad_modes(
            [&](float* da, GradMode m) {
                cpu::mul_bwd(da, nullptr, r.data(), a.data(), b.data(), kN, m,
                             GradMode::kOverwrite);
            },
            num_a, "mul da");
        check_grad_modes(
            [&](float* db, GradMode m) {
                cpu::mul_bwd(nullptr, db, r.data(), a.data(), b.data(), kN, GradMode::kOverwrite,
                             m);
            },
            num_b, "mul db");

        // Both at once, each with its own mode.
        std::vector<float> da(a.size(), kNaN), db = uniform(kN, /*seed=*/20);
        const std::vector<float> db0 = db;
        cpu::mul_bwd(da.data(), db.data(), r.data(), a.data(), b.data(), kN, GradMode::kOverwrite,
                     GradMode::kAccumulate);
        for (size_t i = 0; i < db.size(); ++i) db[i] -= db0[i];
        check_grad(da, num_a, "mul da (joint call)");
        check_grad(db, num_b, "mul db (joint call)");
    }

    TEST_CASE("scale bwd: matches central differences") {
        const std::vector<float> x = uniform(kN, /*seed=*/21), r = uniform(kN, /*seed=*/22);
        const float alpha = 1.75f;
        const auto loss = [&](const std::vector<float>& xv) {
            std::vector<float> y(xv.size());
            cpu::scale_fwd(y.data(), xv.data(), alpha, kN);
            return dot(r, y);
        };
        check_grad_modes([&](float* dx, GradMode m) { cpu::scale_bwd(dx, r.data(), alpha, kN, m); },
                         numeric_grad(loss, x), "scale");
    }

    TEST_CASE("axpy, copy and fill: write the expected values") {
        const std::vector<float> x = uniform(kN, /*seed=*/23);
        const std::vector<float> y0 = uniform(kN, /*seed=*/24);
        std::vector<double> want(x.size());

        std::vector<float> y = y0;
        cpu::axpy(y.data(), 0.5f, x.data(), kN);
        for (size_t i = 0; i < x.size(); ++i) want[i] = y0[i] + 0.5 * x[i];
        check_close(y, want, 1e-6, 1e-7, "axpy");

        y.assign(x.size(), kNaN);
        cpu::copy(y.data(), x.data(), kN, GradMode::kOverwrite);
        check_close(y, x, 0, 0, "copy overwrite");

        y = y0;
        cpu::copy(y.data(), x.data(), kN, GradMode::kAccumulate);
        for (size_t i = 0; i < x.size(); ++i) want[i] = double(y0[i]) + x[i];
        check_close(y, want, 1e-7, 0, "copy accumulate");

        y.assign(x.size() + 1, kNaN);  // the guard element past n must stay untouched
        cpu::fill(y.data(), -3.25f, kN);
        for (int64_t i = 0; i < kN; ++i) CHECK(y[size_t(i)] == -3.25f);
        CHECK(std::isnan(y.back()));
    }

    TEST_CASE("elementwise: empty arrays are legal and negative counts throw") {
        float v = 1.f;
        cpu::relu_fwd(&v, &v, 0);
        CHECK(v == 1.f);
        CHECK_THROWS_AS(cpu::fill(&v, 0.f, -1), Error);
    }

}  // TEST_SUITE
