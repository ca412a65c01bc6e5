// CUDA optimizer updates and sum of squares against the CPU reference (kernels/optim.h). Three
// consecutive steps run on both backends from the same start, so the momentum buffer's first
// step and Adam's bias corrections for t = 1, 2, 3 are all covered; parameters and state are
// compared after every step. The kernels round each operation as the CPU loop does, so they are
// expected to match bit for bit; the tests allow tol_for_sum(1) per value so that a host compiler
// that contracts a * b + c into an FMA does not fail them. sum_squares follows tol_for_sum(n), with
// a small-integer case that must be exact. Runs only with a GPU (tests/main.cpp skips the cuda*
// suites otherwise).
#if CUDARTS_HAS_CUDA

#include <cmath>
#include <cstdint>
#include <ostream>
#include <vector>

#include "bench/shapes.h"
#include "kernels/check.h"
#include "kernels/optim.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

struct ParamCase {
    const char* name;
    int64_t n;
};
std::ostream& operator<<(std::ostream& os, const ParamCase& c) {
    return os << "ParamCase{" << c.name << " n=" << c.n << "}";
}

// Flat parameter buffers shared with the benchmark: odd sizes, one past two grid strides of the
// update kernels, and about the size of the DARTS search network's weights (1.9 M).
std::vector<ParamCase> optim_sizes() {
    return {
        {"one", 1},
        {"odd 5", 5},
        {"17x34x9", 17 * 34 * 9},
        {"two grid strides", 2 * 4096 * 256 + 7},
        {"DARTS search network weights", shapes::kSearchNetworkWeights},
    };
}

const double kTol = tol_for_sum(1);

TEST_SUITE("cuda_optim") {
    TEST_CASE("sgd_step cuda: three steps with momentum and weight decay match cpu") {
        // DARTS' weight optimizer: lr 0.025, momentum 0.9, weight decay 3e-4.
        const SgdOptions o{.lr = 0.025f, .momentum = 0.9f, .weight_decay = 3e-4f};
        for (const ParamCase& c : optim_sizes()) {
            CAPTURE(c);
            std::vector<float> w = uniform(c.n, 71), buf(static_cast<size_t>(c.n), NAN);
            DeviceVec w_dev(w),
                buf_dev = DeviceVec::poisoned(c.n);  // the first step overwrites buf
            for (int step = 0; step < 3; ++step) {
                CAPTURE(step);
                const std::vector<float> g = uniform(c.n, 72 + uint64_t(step));
                DeviceVec g_dev(g);
                cpu::sgd_step(w.data(), buf.data(), g.data(), c.n, o, step == 0);
                cuda::sgd_step(w_dev.data(), buf_dev.data(), g_dev.data(), c.n, o, step == 0,
                               test_stream());
                check_close(fetch(w_dev), w, kTol, kTol, "w");
                check_close(fetch(buf_dev), buf, kTol, kTol, "buf");
            }
        }
    }

    TEST_CASE("sgd_step cuda: momentum 0 needs no buffer") {
        const SgdOptions o{.lr = 0.1f, .momentum = 0.f, .weight_decay = 1e-2f};
        for (const ParamCase& c : optim_sizes()) {
            CAPTURE(c);
            std::vector<float> w = uniform(c.n, 75);
            const std::vector<float> g = uniform(c.n, 76);
            DeviceVec w_dev(w), g_dev(g);
            cpu::sgd_step(w.data(), nullptr, g.data(), c.n, o, true);
            cuda::sgd_step(w_dev.data(), nullptr, g_dev.data(), c.n, o, true, test_stream());
            check_close(fetch(w_dev), w, kTol, kTol, "w");
        }
    }

    TEST_CASE("adam_step cuda: steps t = 1, 2, 3 match cpu in theta, m and v") {
        // DARTS' architect: lr 3e-4, betas (0.5, 0.999), weight decay 1e-3.
        const AdamOptions o{.lr = 3e-4f, .beta1 = 0.5f, .beta2 = 0.999f, .weight_decay = 1e-3f};
        for (const ParamCase& c : optim_sizes()) {
            CAPTURE(c);
            std::vector<float> theta = uniform(c.n, 77), m(static_cast<size_t>(c.n), 0.f),
                               v(static_cast<size_t>(c.n), 0.f);
            DeviceVec theta_dev(theta), m_dev(m), v_dev(v);
            for (int64_t t = 1; t <= 3; ++t) {
                CAPTURE(t);
                const std::vector<float> g = uniform(c.n, 78 + uint64_t(t));
                DeviceVec g_dev(g);
                cpu::adam_step(theta.data(), m.data(), v.data(), g.data(), c.n, o, t);
                cuda::adam_step(theta_dev.data(), m_dev.data(), v_dev.data(), g_dev.data(), c.n, o,
                                t, test_stream());
                check_close(fetch(theta_dev), theta, kTol, kTol, "theta");
                check_close(fetch(m_dev), m, kTol, kTol, "m");
                check_close(fetch(v_dev), v, kTol, kTol, "v");
            }
        }
    }

    TEST_CASE("sum_squares cuda: every version matches cpu's double sum, exactly on integers") {
        for (const ParamCase& c : with_empty(optim_sizes())) {
            CAPTURE(c);
            const std::vector<float> x = uniform(c.n, 81);
            // Squares of integers in [-2, 2]: every partial sum is at most 4 * 1.93 M < 2^24, so
            // exact in any order.
            std::vector<float> xi = uniform(c.n, 82, -2.f, 2.f);
            for (float& v : xi) v = std::round(v);
            DeviceVec x_dev(x), xi_dev(xi);
            const float want = float(cpu::sum_squares(x.data(), c.n));
            for_each_version(
                cuda::sum_squares_versions(), c.n, [&](const cuda::SumSquaresVersion& v) {
                    DeviceVec out_dev = DeviceVec::poisoned(1);  // n = 0 must still write 0
                    v.launch(out_dev.data(), x_dev.data(), c.n, test_stream());
                    check_close(fetch(out_dev), std::vector<float>{want}, tol_for_sum(c.n),
                                tol_for_sum(c.n), "sum of squares");
                    DeviceVec outi_dev = DeviceVec::poisoned(1);
                    v.launch(outi_dev.data(), xi_dev.data(), c.n, test_stream());
                    CHECK(double(fetch(outi_dev)[0]) == cpu::sum_squares(xi.data(), c.n));
                });
        }
    }

    TEST_CASE("sum_squares cuda: the launcher runs v2 from 8192 values, v1 below") {
        check_two_versions(cuda::sum_squares_versions(), cuda::sum_squares, 8192,
                           [](auto* launch, int64_t n) {
                               DeviceVec x_dev(uniform(n, 83)), out_dev = DeviceVec::poisoned(1);
                               launch(out_dev.data(), x_dev.data(), n, test_stream());
                               return fetch(out_dev);
                           });
    }

    TEST_CASE("optim cuda: bad arguments throw before launching") {
        DeviceVec w_dev(std::vector<float>{1.f}), g_dev(std::vector<float>{1.f});
        const SgdOptions momentum{.lr = 0.1f, .momentum = 0.9f};
        CHECK_THROWS_AS(
            cuda::sgd_step(w_dev.data(), nullptr, g_dev.data(), 1, momentum, true, test_stream()),
            Error);
        const AdamOptions adam{.lr = 0.1f};
        CHECK_THROWS_AS(cuda::adam_step(w_dev.data(), w_dev.data(), w_dev.data(), g_dev.data(), 1,
                                        adam, 0, test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::sum_squares(w_dev.data(), g_dev.data(), -1, test_stream()), Error);
        CHECK(fetch(w_dev)[0] == 1.f);
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
