// CUDA elementwise ops, full reductions and the dropout broadcast multiply against the CPU
// reference (kernels/elementwise.h, kernels/reduce.h, kernels/dropout.h). Every output starts
// as NaN so an element a kernel forgets fails, accumulate mode starts from non-zero values, the
// guard zone after each output catches overruns, and the sizes run from one element past the
// grid-stride cap to the DARTS feature maps of bench/shapes.h. Ops that round once (relu, add, mul,
// scale, copy, fill, broadcast_mul) must match bit for bit; the rest follow tol_for_sum.
// Runs only with a GPU (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "kernels/check.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

struct SizeCase {
    std::string name;
    int64_t n;
};
std::ostream& operator<<(std::ostream& os, const SizeCase& c) {
    return os << "SizeCase{" << c.name << " n=" << c.n << "}";
}

// Flat sizes shared with the benchmark: odd ones, one that needs two grid-stride passes (the grid
// is capped at 4096 blocks of 256 threads), and the DARTS feature maps of bench/shapes.h at the
// big batch (the stride-2 reductions halve H and W and double C, so each size is also a reduction
// cell's output).
std::vector<SizeCase> elementwise_sizes() {
    std::vector<SizeCase> out = {
        {"one element", 1},
        {"odd N=3 C=5 7x7", 3 * 5 * 7 * 7},
        {"17x34x9", 17 * 34 * 9},
        {"two grid strides", 2 * 4096 * 256 + 7},
    };
    const int n = big_batch();
    for (const shapes::DartsPlane& p : shapes::kDartsPlanes) out.push_back({p.name(n), p.elems(n)});
    return out;
}

// The CPU op applied to a copy of `start`: the reference for an in-place or accumulating call.
template <class F>
std::vector<float> cpu_from(std::vector<float> start, F op) {
    op(start.data());
    return start;
}

struct Activation {
    const char* name;
    void (*cpu_fwd)(float*, const float*, int64_t);
    void (*cuda_fwd)(float*, const float*, int64_t, Stream);
    void (*cpu_bwd)(float*, const float*, const float*, int64_t, GradMode);
    void (*cuda_bwd)(float*, const float*, const float*, int64_t, GradMode, Stream);
    bool exact;  // rounds once, so CUDA must equal the CPU bit for bit
};

const Activation kActivations[] = {
    {"relu", cpu::relu_fwd, cuda::relu_fwd, cpu::relu_bwd, cuda::relu_bwd, true},
    {"tanh", cpu::tanh_fwd, cuda::tanh_fwd, cpu::tanh_bwd, cuda::tanh_bwd, false},
    {"sigmoid", cpu::sigmoid_fwd, cuda::sigmoid_fwd, cpu::sigmoid_bwd, cuda::sigmoid_bwd, false},
};

// Two terms where accumulating (the old value and the new one, or a fused multiply-add).
double tol_for(bool exact, GradMode mode) {
    if (exact) return 0.0;
    return tol_for_sum(mode == kAccumulate ? 2 : 1);
}

TEST_SUITE("cuda_elementwise") {
    TEST_CASE("activations fwd and bwd cuda: relu, tanh, sigmoid match cpu in both modes") {
        for (const SizeCase& c : elementwise_sizes()) {
            for (const Activation& a : kActivations) {
                CAPTURE(c);
                CAPTURE(a.name);
                // ReLU's input stays away from its kink; tanh and sigmoid take uniform [-1, 1].
                const bool is_relu = a.cpu_fwd == cpu::relu_fwd;
                const std::vector<float> x = is_relu ? away_from_zero(c.n, 1) : uniform(c.n, 1);
                std::vector<float> y(x.size());
                a.cpu_fwd(y.data(), x.data(), c.n);
                DeviceVec x_dev(x), y_dev = DeviceVec::poisoned(c.n);
                a.cuda_fwd(y_dev.data(), x_dev.data(), c.n, test_stream());
                const double tf = a.exact ? 0.0 : tol_for_sum(1);
                check_close(fetch(y_dev), y, tf, tf, "y");

                // Backward reads the saved output y (the CPU's, so only the kernel is compared).
                const std::vector<float> dy = uniform(c.n, 2), base = uniform(c.n, 3);
                DeviceVec dy_dev(dy), ysaved_dev(y);
                for (GradMode mode : {kOverwrite, kAccumulate}) {
                    CAPTURE(int(mode));
                    const std::vector<float> start =
                        mode == kOverwrite ? std::vector<float>(x.size(), NAN) : base;
                    const std::vector<float> want = cpu_from(
                        start, [&](float* dx) { a.cpu_bwd(dx, dy.data(), y.data(), c.n, mode); });
                    DeviceVec dx_dev(start);
                    a.cuda_bwd(dx_dev.data(), dy_dev.data(), ysaved_dev.data(), c.n, mode,
                               test_stream());
                    const double t = tol_for(a.exact, mode);
                    check_close(fetch(dx_dev), want, t, t, "dx");
                }
            }
        }
    }

    TEST_CASE("binary fwd cuda: add, mul and scale equal cpu bit for bit") {
        for (const SizeCase& c : elementwise_sizes()) {
            CAPTURE(c);
            const std::vector<float> a = uniform(c.n, 4), b = uniform(c.n, 5);
            DeviceVec a_dev(a), b_dev(b);
            std::vector<float> want(a.size());

            cpu::add_fwd(want.data(), a.data(), b.data(), c.n);
            DeviceVec y_dev = DeviceVec::poisoned(c.n);
            cuda::add_fwd(y_dev.data(), a_dev.data(), b_dev.data(), c.n, test_stream());
            check_close(fetch(y_dev), want, 0, 0, "add");

            cpu::mul_fwd(want.data(), a.data(), b.data(), c.n);
            DeviceVec z_dev = DeviceVec::poisoned(c.n);
            cuda::mul_fwd(z_dev.data(), a_dev.data(), b_dev.data(), c.n, test_stream());
            check_close(fetch(z_dev), want, 0, 0, "mul");

            cpu::scale_fwd(want.data(), a.data(), -2.5f, c.n);
            DeviceVec s_dev = DeviceVec::poisoned(c.n);
            cuda::scale_fwd(s_dev.data(), a_dev.data(), -2.5f, c.n, test_stream());
            check_close(fetch(s_dev), want, 0, 0, "scale");
        }
    }

    TEST_CASE("mul bwd cuda: da and db in mixed modes, and either one alone") {
        for (const SizeCase& c : elementwise_sizes()) {
            CAPTURE(c);
            const std::vector<float> a = uniform(c.n, 6), b = uniform(c.n, 7), dy = uniform(c.n, 8);
            const std::vector<float> base_a = uniform(c.n, 9), base_b = uniform(c.n, 10);
            const std::vector<float> nan(a.size(), NAN);
            DeviceVec a_dev(a), b_dev(b), dy_dev(dy);
            struct Want {
                bool da, db;
                GradMode mode_a, mode_b;
            };
            for (const Want w : {Want{true, true, kOverwrite, kAccumulate},
                                 Want{true, true, kAccumulate, kOverwrite},
                                 Want{true, false, kOverwrite, kOverwrite},
                                 Want{false, true, kAccumulate, kAccumulate}}) {
                CAPTURE(w.da);
                CAPTURE(w.db);
                CAPTURE(int(w.mode_a));
                CAPTURE(int(w.mode_b));
                // An unwanted gradient starts as NaN whatever its mode, so that "untouched" shows.
                const std::vector<float>& start_a = !w.da || w.mode_a == kOverwrite ? nan : base_a;
                const std::vector<float>& start_b = !w.db || w.mode_b == kOverwrite ? nan : base_b;
                std::vector<float> want_a = start_a, want_b = start_b;
                cpu::mul_bwd(w.da ? want_a.data() : nullptr, w.db ? want_b.data() : nullptr,
                             dy.data(), a.data(), b.data(), c.n, w.mode_a, w.mode_b);
                DeviceVec da_dev(start_a), db_dev(start_b);
                cuda::mul_bwd(w.da ? da_dev.data() : nullptr, w.db ? db_dev.data() : nullptr,
                              dy_dev.data(), a_dev.data(), b_dev.data(), c.n, w.mode_a, w.mode_b,
                              test_stream());
                if (w.da) {
                    const double t = tol_for(false, w.mode_a);
                    check_close(fetch(da_dev), want_a, t, t, "da");
                } else {  // an unwanted gradient is not touched: still all NaN
                    int touched = 0;
                    for (float v : fetch(da_dev)) touched += std::isnan(v) ? 0 : 1;
                    CHECK(touched == 0);
                }
                if (w.db) {
                    const double t = tol_for(false, w.mode_b);
                    check_close(fetch(db_dev), want_b, t, t, "db");
                } else {
                    int touched = 0;
                    for (float v : fetch(db_dev)) touched += std::isnan(v) ? 0 : 1;
                    CHECK(touched == 0);
                }
            }
        }
    }

    TEST_CASE("scale bwd, axpy, copy and fill cuda: match cpu in both modes") {
        for (const SizeCase& c : elementwise_sizes()) {
            CAPTURE(c);
            const std::vector<float> x = uniform(c.n, 11), base = uniform(c.n, 12);
            const std::vector<float> nan(x.size(), NAN);
            DeviceVec x_dev(x);
            for (GradMode mode : {kOverwrite, kAccumulate}) {
                CAPTURE(int(mode));
                const std::vector<float>& start = mode == kOverwrite ? nan : base;
                const double t = tol_for(false, mode);

                std::vector<float> want = cpu_from(
                    start, [&](float* dx) { cpu::scale_bwd(dx, x.data(), 0.75f, c.n, mode); });
                DeviceVec dx_dev(start);
                cuda::scale_bwd(dx_dev.data(), x_dev.data(), 0.75f, c.n, mode, test_stream());
                check_close(fetch(dx_dev), want, t, t, "scale_bwd dx");

                // copy adds without a product, so it rounds once in either mode.
                want = cpu_from(start, [&](float* y) { cpu::copy(y, x.data(), c.n, mode); });
                DeviceVec y_dev(start);
                cuda::copy(y_dev.data(), x_dev.data(), c.n, mode, test_stream());
                check_close(fetch(y_dev), want, 0, 0, "copy");
            }

            const std::vector<float> want_axpy =
                cpu_from(base, [&](float* y) { cpu::axpy(y, -1.5f, x.data(), c.n); });
            DeviceVec y_dev(base);
            cuda::axpy(y_dev.data(), -1.5f, x_dev.data(), c.n, test_stream());
            check_close(fetch(y_dev), want_axpy, tol_for_sum(2), tol_for_sum(2), "axpy");

            DeviceVec f_dev = DeviceVec::poisoned(c.n);
            cuda::fill(f_dev.data(), 0.3f, c.n, test_stream());
            check_close(fetch(f_dev), std::vector<float>(x.size(), 0.3f), 0, 0, "fill");
        }
    }

    TEST_CASE("elementwise cuda: empty arrays launch nothing and negative counts throw") {
        cuda::relu_fwd(nullptr, nullptr, 0, test_stream());
        cuda::mul_bwd(nullptr, nullptr, nullptr, nullptr, nullptr, 0, kOverwrite, kOverwrite,
                      test_stream());
        cuda::fill(nullptr, 1.f, 0, test_stream());
        CHECK_THROWS_AS(cuda::relu_fwd(nullptr, nullptr, -1, test_stream()), Error);
        CHECK_THROWS_AS(cuda::copy(nullptr, nullptr, -1, kOverwrite, test_stream()), Error);
        CHECK_THROWS_AS(cuda::axpy(nullptr, 1.f, nullptr, -3, test_stream()), Error);
    }

}  // TEST_SUITE

TEST_SUITE("cuda_reduce") {
    TEST_CASE("sum fwd cuda: every version matches cpu's double sum, plain and as a mean") {
        for (const SizeCase& c : with_empty(elementwise_sizes())) {
            CAPTURE(c);
            const std::vector<float> x = uniform(c.n, 13);
            DeviceVec x_dev(x);
            for (float scale : {1.f, c.n > 0 ? 1.f / float(c.n) : 1.f}) {
                CAPTURE(scale);
                float want = NAN;
                cpu::sum_fwd(&want, x.data(), c.n, scale);
                for_each_version(cuda::sum_fwd_versions(), c.n, [&](const cuda::SumFwdVersion& v) {
                    DeviceVec y_dev = DeviceVec::poisoned(1);  // n = 0 must still write 0
                    v.launch(y_dev.data(), x_dev.data(), c.n, scale, test_stream());
                    check_close(fetch(y_dev), std::vector<float>{want}, tol_for_sum(c.n),
                                tol_for_sum(c.n), "sum");
                });
            }
        }
    }

    TEST_CASE("sum fwd cuda: small integers sum exactly in every version") {
        // Integers in [-8, 8]: every partial sum is an integer far below 2^24, so any order is
        // exact.
        for (const SizeCase& c : elementwise_sizes()) {
            CAPTURE(c);
            std::vector<float> x = uniform(c.n, 14, -8.f, 8.f);
            for (float& v : x) v = std::round(v);
            float want = NAN;
            cpu::sum_fwd(&want, x.data(), c.n, 1.f);
            DeviceVec x_dev(x);
            for_each_version(cuda::sum_fwd_versions(), c.n, [&](const cuda::SumFwdVersion& v) {
                DeviceVec y_dev = DeviceVec::poisoned(1);
                v.launch(y_dev.data(), x_dev.data(), c.n, 1.f, test_stream());
                check_close(fetch(y_dev), std::vector<float>{want}, 0, 0, "integer sum");
            });
        }
    }

    TEST_CASE("sum fwd cuda: the launcher runs v2 from 8192 values, v1 below") {
        check_two_versions(cuda::sum_fwd_versions(), cuda::sum_fwd, 8192,
                           [](auto* launch, int64_t n) {
                               DeviceVec x_dev(uniform(n, 16)), y_dev = DeviceVec::poisoned(1);
                               launch(y_dev.data(), x_dev.data(), n, 0.5f, test_stream());
                               return fetch(y_dev);
                           });
    }

    TEST_CASE("sum bwd cuda: broadcasts dy * scale from the device in both modes") {
        for (const SizeCase& c : elementwise_sizes()) {
            CAPTURE(c);
            const float dy = 0.7f, scale = 1.f / float(c.n);
            const std::vector<float> base = uniform(c.n, 15);
            DeviceVec dy_dev({dy});
            for (GradMode mode : {kOverwrite, kAccumulate}) {
                CAPTURE(int(mode));
                const std::vector<float> start =
                    mode == kOverwrite ? std::vector<float>(base.size(), NAN) : base;
                const std::vector<float> want =
                    cpu_from(start, [&](float* dx) { cpu::sum_bwd(dx, &dy, c.n, scale, mode); });
                DeviceVec dx_dev(start);
                cuda::sum_bwd(dx_dev.data(), dy_dev.data(), c.n, scale, mode, test_stream());
                const double t = tol_for(false, mode);
                check_close(fetch(dx_dev), want, t, t, "dx");
            }
        }
    }

}  // TEST_SUITE

struct BroadcastCase {
    std::string name;
    BroadcastShape s;
};
std::ostream& operator<<(std::ostream& os, const BroadcastCase& c) {
    return os << "BroadcastCase{" << c.name << " outer=" << c.s.outer << " mid=" << c.s.mid
              << " inner=" << c.s.inner << "}";
}

// The dropout layouts of kernels/dropout.h on odd extents and on DARTS' shapes: drop path masks
// whole samples of the big-batch feature maps; the RNN search's locked dropout shares one mask over
// 35 steps of a (64, 300) batch.
std::vector<BroadcastCase> broadcast_shapes() {
    std::vector<BroadcastCase> out = {
        {"plain odd", {1, 37, 1}},
        {"per-sample odd N=3 C=5 7x7", {1, 3, 5 * 7 * 7}},
        {"locked odd", {4, 10, 1}},
        {"general 3x5x7", {3, 5, 7}},
        {"locked RNN T=35 B=64 D=300", {35, 64 * 300, 1}},
    };
    const int n = big_batch();
    const shapes::DartsPlane first = shapes::kDartsPlanes[0];
    out.push_back({"plain " + first.name(n), {1, first.elems(n), 1}});
    for (const shapes::DartsPlane& p : shapes::kDartsPlanes)
        out.push_back({"drop path " + p.name(n), {1, n, p.elems(1)}});
    return out;
}

// A dropout-like mask: about a fifth of the entries 0, the rest 1/(1 - 0.2).
std::vector<float> make_mask(int64_t mid) {
    std::vector<float> m = uniform(mid, 16);
    for (float& v : m) v = v < -0.6f ? 0.f : 1.25f;
    return m;
}

TEST_SUITE("cuda_dropout") {
    TEST_CASE("broadcast_mul fwd and bwd cuda: every layout matches cpu in both modes") {
        for (const BroadcastCase& c : broadcast_shapes()) {
            CAPTURE(c);
            const int64_t n = c.s.elems();
            const std::vector<float> x = uniform(n, 17), dy = uniform(n, 18), base = uniform(n, 19);
            const std::vector<float> mask = make_mask(c.s.mid);
            DeviceVec x_dev(x), dy_dev(dy), mask_dev(mask);

            std::vector<float> want(x.size());
            cpu::broadcast_mul_fwd(want.data(), x.data(), mask.data(), c.s);
            DeviceVec y_dev = DeviceVec::poisoned(n);
            cuda::broadcast_mul_fwd(y_dev.data(), x_dev.data(), mask_dev.data(), c.s,
                                    test_stream());
            check_close(fetch(y_dev), want, 0, 0, "y");

            for (GradMode mode : {kOverwrite, kAccumulate}) {
                CAPTURE(int(mode));
                const std::vector<float> start =
                    mode == kOverwrite ? std::vector<float>(x.size(), NAN) : base;
                const std::vector<float> want_dx = cpu_from(start, [&](float* dx) {
                    cpu::broadcast_mul_bwd(dx, dy.data(), mask.data(), c.s, mode);
                });
                DeviceVec dx_dev(start);
                cuda::broadcast_mul_bwd(dx_dev.data(), dy_dev.data(), mask_dev.data(), c.s, mode,
                                        test_stream());
                const double t = tol_for(mode == kOverwrite, mode);
                check_close(fetch(dx_dev), want_dx, t, t, "dx");
            }
        }
    }

    TEST_CASE("broadcast_mul cuda: empty shapes launch nothing, negative extents throw") {
        cuda::broadcast_mul_fwd(nullptr, nullptr, nullptr, {1, 0, 5}, test_stream());
        cuda::broadcast_mul_bwd(nullptr, nullptr, nullptr, {2, 3, 0}, kAccumulate, test_stream());
        CHECK_THROWS_AS(
            cuda::broadcast_mul_fwd(nullptr, nullptr, nullptr, {1, -1, 1}, test_stream()), Error);
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
