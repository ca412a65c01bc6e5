// CUDA pooling against the CPU reference (kernels/pool.h), forward and backward in both GradModes,
// on odd shapes (N=3, C=5, 7x7, 17x34, stride 2, windows of 2 and 5, rows no window covers) and
// the DARTS shapes of bench/shapes.h (C=16 32x32, C=32 16x16, C=64 8x8; 3x3 pad 1, stride 1 and 2)
// at the batch of big_batch().
// Outputs start as NaN, accumulation starts from non-zero values, and the guard zone of
// tests/cuda_util.h catches a kernel writing past its output. Max pooling is a selection, so its
// forward must match exactly, NaN rule included; the sums follow STYLE's tol_for_sum(K) with K
// the terms per output. Runs only with a GPU (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "kernels/check.h"
#include "kernels/pool.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

// x (n, c, hw) -> y (n, c), as the global pool's arguments.
struct GlobalPoolShape {
    int n, c, hw;
    int64_t in_elems() const { return int64_t(n) * c * hw; }
    int64_t out_elems() const { return int64_t(n) * c; }
};
std::ostream& operator<<(std::ostream& os, const GlobalPoolShape& s) {
    return os << "GlobalPoolShape{n=" << s.n << " c=" << s.c << " hw=" << s.hw << "}";
}

// Odd planes (a single value, 7x7, 17x34), then the DARTS classifier input at the big batch: the
// last cell's 4 * 64 = 256 channels at 8x8, and 64 channels for the narrower stem-sized networks.
std::vector<GlobalPoolShape> global_pool_cuda_shapes() {
    const int n = big_batch();
    return {{3, 5, 1}, {3, 5, 49}, {2, 3, 17 * 34}, {n, 64, 64}, {n, 256, 64}};
}

// A backward on both devices in both modes (overwrite into NaN, accumulate onto the same
// non-zero start); K is the number of terms summed into one gradient element in overwrite mode.
void check_bwd_both_modes(int64_t size, const ModeWrite& cpu_bwd, const ModeWrite& cuda_bwd,
                          int64_t k, const std::string& what) {
    check_modes_match(nans(size), cpu_bwd, cuda_bwd, tol_for_sum(k), tol_for_sum(k + 1), what);
}

// Outputs covering one input along an axis, at most: ceil(k / stride).
int64_t covering(const Pool2dShape& s) { return (s.k + s.stride - 1) / s.stride; }

// The max pool's forward on both devices from x.
FwdRuns max_pool_fwd_both(const Pool2dShape& s, const std::vector<float>& x) {
    return run_fwd_both(
        x, s.out_elems(), [&](float* y, const float* xp) { cpu::max_pool2d_fwd(y, xp, s); },
        [&](float* y, const float* xp) { cuda::max_pool2d_fwd(y, xp, s, test_stream()); });
}

// The max pool's backward on both devices in both modes, from input x and upstream gradient dy.
void check_max_pool_bwd(const Pool2dShape& s, const std::vector<float>& x,
                        const std::vector<float>& dy, const std::string& what) {
    const DeviceVec x_dev(x), dy_dev(dy);
    check_bwd_both_modes(
        s.in_elems(),
        [&](float* dx, GradMode m) { cpu::max_pool2d_bwd(dx, dy.data(), x.data(), s, m); },
        [&](float* dx, GradMode m) {
            cuda::max_pool2d_bwd(dx, dy_dev.data(), x_dev.data(), s, m, test_stream());
        },
        covering(s) * covering(s), what);
}

// Equal, or both NaN: the max pool's NaN rule.
void check_same_or_both_nan(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const bool same = std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i];
        if (!same && ++bad <= 5) MESSAGE("[" << i << "] cuda " << got[i] << " cpu " << want[i]);
    }
    CHECK(bad == 0);
}

TEST_SUITE("cuda_pool") {
    TEST_CASE("max_pool2d fwd: cuda equals cpu exactly on odd and DARTS shapes") {
        for (const Pool2dShape& s : shapes::pool2d(big_batch())) {
            CAPTURE(s);
            const auto [got, want] = max_pool_fwd_both(s, away_from_zero(s.in_elems(), 11));
            check_close(got, want, 0, 0, "max_pool2d y");
        }
    }

    TEST_CASE("max_pool2d bwd: cuda gather matches cpu scatter in both GradModes") {
        for (const Pool2dShape& s : shapes::pool2d(big_batch())) {
            CAPTURE(s);
            check_max_pool_bwd(s, away_from_zero(s.in_elems(), 12), uniform(s.out_elems(), 13),
                               "max_pool2d dx");
        }
    }

    TEST_CASE("max_pool2d: NaN wins its windows on cuda as on cpu, forward and backward") {
        const Pool2dShape s{.n = 3, .c = 5, .h = 7, .w = 7, .k = 3, .stride = 2, .pad = 1};
        CAPTURE(s);
        std::vector<float> x = away_from_zero(s.in_elems(), 14);
        for (int64_t i : {int64_t(0), int64_t(24), int64_t(60), s.in_elems() - 1})
            x[size_t(i)] = NAN;
        const auto [got, want] = max_pool_fwd_both(s, x);
        check_same_or_both_nan(got, want);
        check_max_pool_bwd(s, x, uniform(s.out_elems(), 15), "max_pool2d dx with NaN");
    }

    TEST_CASE("avg_pool2d fwd: cuda matches cpu on odd and DARTS shapes") {
        for (const Pool2dShape& s : shapes::pool2d(big_batch())) {
            CAPTURE(s);
            check_fwd_match(cpu::avg_pool2d_fwd, cuda::avg_pool2d_fwd, s, s.in_elems(),
                            s.out_elems(), 21, tol_for_sum(s.k * s.k), "avg_pool2d y");
        }
    }

    TEST_CASE("avg_pool2d bwd: cuda gather matches cpu scatter in both GradModes") {
        for (const Pool2dShape& s : shapes::pool2d(big_batch())) {
            CAPTURE(s);
            const std::vector<float> dy = uniform(s.out_elems(), 22);
            DeviceVec dy_dev(dy);
            check_bwd_both_modes(
                s.in_elems(),
                [&](float* dx, GradMode m) { cpu::avg_pool2d_bwd(dx, dy.data(), s, m); },
                [&](float* dx, GradMode m) {
                    cuda::avg_pool2d_bwd(dx, dy_dev.data(), s, m, test_stream());
                },
                covering(s) * covering(s), "avg_pool2d dx");
        }
    }

    TEST_CASE("global_avg_pool fwd: cuda warp sums match cpu") {
        for (const GlobalPoolShape& s : global_pool_cuda_shapes()) {
            CAPTURE(s);
            const auto [got, want] = run_fwd_both(
                uniform(s.in_elems(), 31), s.out_elems(),
                [&](float* y, const float* x) { cpu::global_avg_pool_fwd(y, x, s.n, s.c, s.hw); },
                [&](float* y, const float* x) {
                    cuda::global_avg_pool_fwd(y, x, s.n, s.c, s.hw, test_stream());
                });
            check_close(got, want, tol_for_sum(s.hw), tol_for_sum(s.hw), "global_avg y");
        }
    }

    TEST_CASE("global_avg_pool bwd: cuda matches cpu in both GradModes") {
        for (const GlobalPoolShape& s : global_pool_cuda_shapes()) {
            CAPTURE(s);
            const std::vector<float> dy = uniform(s.out_elems(), 32);
            DeviceVec dy_dev(dy);
            check_bwd_both_modes(
                s.in_elems(),
                [&](float* dx, GradMode m) {
                    cpu::global_avg_pool_bwd(dx, dy.data(), s.n, s.c, s.hw, m);
                },
                [&](float* dx, GradMode m) {
                    cuda::global_avg_pool_bwd(dx, dy_dev.data(), s.n, s.c, s.hw, m, test_stream());
                },
                1, "global_avg dx");
        }
    }

    TEST_CASE("pool cuda: an empty batch launches nothing, a bad shape throws before launching") {
        const Pool2dShape empty{.n = 0, .c = 16, .h = 8, .w = 8, .k = 3, .stride = 2, .pad = 1};
        cuda::max_pool2d_fwd(nullptr, nullptr, empty, test_stream());
        cuda::max_pool2d_bwd(nullptr, nullptr, nullptr, empty, GradMode::kOverwrite, test_stream());
        cuda::avg_pool2d_fwd(nullptr, nullptr, empty, test_stream());
        cuda::avg_pool2d_bwd(nullptr, nullptr, empty, GradMode::kOverwrite, test_stream());
        cuda::global_avg_pool_fwd(nullptr, nullptr, 0, 16, 64, test_stream());
        cuda::global_avg_pool_bwd(nullptr, nullptr, 0, 16, 64, GradMode::kOverwrite, test_stream());

        DeviceVec y_dev = DeviceVec::poisoned(16);
        const Pool2dShape bad{.n = 1, .c = 1, .h = 4, .w = 4, .k = 3, .stride = 1, .pad = 2};
        CHECK_THROWS_AS(cuda::max_pool2d_fwd(y_dev.data(), y_dev.data(), bad, test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::avg_pool2d_fwd(y_dev.data(), y_dev.data(), bad, test_stream()),
                        Error);
        CHECK_THROWS_AS(
            cuda::global_avg_pool_fwd(y_dev.data(), y_dev.data(), 1, 1, 0, test_stream()), Error);
        for (float v : fetch(y_dev)) CHECK(std::isnan(v));
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
