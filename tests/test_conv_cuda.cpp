// CUDA convolution against the CPU reference (kernels/conv.h). Every registered version of each
// direction (v1 direct, v2 depthwise tiled, cublas 1x1, and for the weight gradient v3, the 1x1
// one-launch cluster kernel) and the dispatching launcher run on the odd shapes, odd 1x1 shapes
// and the DARTS depthwise and 1x1 shapes of bench/shapes.h, in both write modes: outputs
// start as NaN under overwrite and as non-zero values under accumulate, and a guard zone after
// every output catches overruns. Small-integer inputs must match exactly (every partial sum is an
// integer below 2^24), the weight gradient must be bitwise reproducible, and an empty batch
// must still overwrite dw. Runs only with a GPU (tests/main.cpp skips cuda* suites).
#if CUDARTS_HAS_CUDA

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "kernels/check.h"
#include "kernels/conv.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

using FwdVersion = cuda::Conv2dFwdVersion;
using DataVersion = cuda::Conv2dBwdDataVersion;
using WeightVersion = cuda::Conv2dBwdWeightVersion;

std::vector<Conv2dShape> conv2d_cuda_shapes() {
    std::vector<Conv2dShape> shapes = shapes::odd_conv2d();
    for (const Conv2dShape& s : shapes::darts_conv2d(big_batch())) shapes.push_back(s);
    return shapes;
}

// 1x1 shapes for the pointwise weight gradient (cublas, v3): batches of 1, 3 and 64, channel
// counts that are multiples of neither 32 nor v3's 16-wide dW tile (so edge tiles are partial,
// and 45 x 70 needs several tiles each way), odd planes (h*w = 63, 55, 9) so the columns each
// cluster rank takes straddle samples.
std::vector<Conv2dShape> odd_pointwise_shapes() {
    return {
        {.n = 1, .c_in = 37, .h = 7, .w = 9, .c_out = 19, .k = 1},
        {.n = 3, .c_in = 70, .h = 5, .w = 11, .c_out = 45, .k = 1},
        {.n = 64, .c_in = 21, .h = 3, .w = 3, .c_out = 35, .k = 1},
        {.n = 3, .c_in = 5, .h = 1, .w = 1, .c_out = 3, .k = 1},  // fewer columns than ranks
    };
}

// The seeded inputs x, w and dy on s (seeds 11, 12, 13), the same for every direction's case.
std::array<std::vector<float>, 3> uniform_inputs(const Conv2dShape& s) {
    return uniforms({s.in_elems(), s.weight_elems(), s.out_elems()}, 11);
}

// Integers in [-2, 2]: products and sums stay exact in float (|sum| <= 4 * 65536 < 2^24).
std::vector<float> small_ints(int64_t n, uint64_t seed) {
    const std::vector<int32_t> l = labels(n, 5, seed);
    std::vector<float> v(l.size());
    for (size_t i = 0; i < l.size(); ++i) v[i] = float(l[i] - 2);
    return v;
}

std::vector<float> plus(const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> r(a.size());
    for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
    return r;
}

bool any_shape(const Conv2dShape&) { return true; }

// The versions that support s, then the launcher under the name "launcher".
template <class Version>
std::vector<Version> runnable(std::span<const Version> all, Version launcher,
                              const Conv2dShape& s) {
    std::vector<Version> out;
    for (const Version& v : all)
        if (v.supports(s)) out.push_back(v);
    out.push_back(launcher);
    return out;
}
std::vector<FwdVersion> fwd_runs(const Conv2dShape& s) {
    return runnable(cuda::conv2d_fwd_versions(),
                    FwdVersion{"launcher", any_shape, cuda::conv2d_fwd, cuda::conv2d_group_fwd}, s);
}
std::vector<DataVersion> data_runs(const Conv2dShape& s) {
    return runnable(
        cuda::conv2d_bwd_data_versions(),
        DataVersion{"launcher", any_shape, cuda::conv2d_bwd_data, cuda::conv2d_group_bwd_data}, s);
}
std::vector<WeightVersion> weight_runs(const Conv2dShape& s) {
    return runnable(cuda::conv2d_bwd_weight_versions(),
                    WeightVersion{"launcher", any_shape, cuda::conv2d_bwd_weight,
                                  cuda::conv2d_group_bwd_weight},
                    s);
}

// Every forward version on s against the CPU's y `want`, each into a NaN-poisoned output.
void check_fwd_versions(const Conv2dShape& s, const DeviceVec& x_dev, const DeviceVec& w_dev,
                        const std::vector<float>& want, double tol) {
    for (const FwdVersion& v : fwd_runs(s)) {
        CAPTURE(v.name);
        const DeviceVec y_dev = DeviceVec::poisoned(s.out_elems());
        v.launch(y_dev.data(), x_dev.data(), w_dev.data(), s, test_stream());
        check_close(fetch(y_dev), want, tol, tol, "y");
    }
}

// Every version in `runs` of one backward direction, launched as launch(out, dy, other, s, mode,
// stream), against the CPU's `want` (`what` names it: dx or dw): overwrite into NaN; with
// `repeat`, a second overwrite must give the same bits; with `start`, accumulate onto it.
template <class Version>
void check_bwd_versions(const std::vector<Version>& runs, const Conv2dShape& s,
                        const DeviceVec& dy_dev, const DeviceVec& other_dev,
                        const std::vector<float>& want, double tol, const std::string& what,
                        const std::vector<float>* start = nullptr, bool repeat = false) {
    const std::vector<float> want_acc = start ? plus(*start, want) : std::vector<float>();
    for (const Version& v : runs) {
        CAPTURE(v.name);
        const DeviceVec out_dev = DeviceVec::poisoned(int64_t(want.size()));
        v.launch(out_dev.data(), dy_dev.data(), other_dev.data(), s, GradMode::kOverwrite,
                 test_stream());
        const std::vector<float> first = fetch(out_dev);
        check_close(first, want, tol, tol, what + " overwrite");
        if (repeat) {
            v.launch(out_dev.data(), dy_dev.data(), other_dev.data(), s, GradMode::kOverwrite,
                     test_stream());
            CHECK_MESSAGE(fetch(out_dev) == first, "a second run gave different bits");
        }
        if (start) {
            const DeviceVec acc_dev(*start);
            v.launch(acc_dev.data(), dy_dev.data(), other_dev.data(), s, GradMode::kAccumulate,
                     test_stream());
            check_close(fetch(acc_dev), want_acc, tol, tol, what + " accumulate");
        }
    }
}

// Runs every version of the three directions on s with inputs x, w, dy and compares with the
// CPU within the given tolerances (0 demands exact equality), overwriting only.
void check_all_directions(const Conv2dShape& s, const std::vector<float>& x,
                          const std::vector<float>& w, const std::vector<float>& dy, double t_fwd,
                          double t_data, double t_weight) {
    std::vector<float> y_want(size_t(s.out_elems())), dx_want(size_t(s.in_elems())),
        dw_want(size_t(s.weight_elems()));
    cpu::conv2d_fwd(y_want.data(), x.data(), w.data(), s);
    cpu::conv2d_bwd_data(dx_want.data(), dy.data(), w.data(), s, GradMode::kOverwrite);
    cpu::conv2d_bwd_weight(dw_want.data(), dy.data(), x.data(), s, GradMode::kOverwrite);
    const DeviceVec x_dev(x), w_dev(w), dy_dev(dy);
    check_fwd_versions(s, x_dev, w_dev, y_want, t_fwd);
    check_bwd_versions(data_runs(s), s, dy_dev, w_dev, dx_want, t_data, "dx");
    check_bwd_versions(weight_runs(s), s, dy_dev, x_dev, dw_want, t_weight, "dw");
}

TEST_SUITE("cuda_conv") {
    TEST_CASE("conv2d fwd cuda: every version matches cpu on odd and DARTS shapes") {
        for (const Conv2dShape& s : conv2d_cuda_shapes()) {
            CAPTURE(s);
            const auto [x, w, dy] = uniform_inputs(s);
            std::vector<float> want(size_t(s.out_elems()));
            cpu::conv2d_fwd(want.data(), x.data(), w.data(), s);
            const double tol = tol_for_sum(int64_t(s.cin_per_group()) * s.k * s.k);
            check_fwd_versions(s, DeviceVec(x), DeviceVec(w), want, tol);
        }
    }

    TEST_CASE("conv2d bwd_data cuda: every version matches cpu, overwrite and accumulate") {
        for (const Conv2dShape& s : conv2d_cuda_shapes()) {
            CAPTURE(s);
            const auto [x, w, dy] = uniform_inputs(s);
            std::vector<float> want(size_t(s.in_elems()));
            cpu::conv2d_bwd_data(want.data(), dy.data(), w.data(), s, GradMode::kOverwrite);
            const std::vector<float> start = uniform(s.in_elems(), 14);
            const double tol = tol_for_sum(int64_t(s.cout_per_group()) * s.k * s.k);
            check_bwd_versions(data_runs(s), s, DeviceVec(dy), DeviceVec(w), want, tol, "dx",
                               &start);
        }
    }

    TEST_CASE("conv2d bwd_weight cuda: every version matches cpu, both modes, bitwise repeatable") {
        for (const Conv2dShape& s : conv2d_cuda_shapes()) {
            CAPTURE(s);
            const auto [x, w, dy] = uniform_inputs(s);
            std::vector<float> want(size_t(s.weight_elems()));
            cpu::conv2d_bwd_weight(want.data(), dy.data(), x.data(), s, GradMode::kOverwrite);
            const std::vector<float> start = uniform(s.weight_elems(), 15);
            const double tol = tol_for_sum(int64_t(s.n) * s.ho() * s.wo());
            check_bwd_versions(weight_runs(s), s, DeviceVec(dy), DeviceVec(x), want, tol, "dw",
                               &start, /*repeat=*/true);
        }
    }

    TEST_CASE("conv2d bwd_weight cuda 1x1: odd channels and planes, n = 1, 3, 64, both modes") {
        for (const Conv2dShape& s : odd_pointwise_shapes()) {
            CAPTURE(s);
            const auto [x, w, dy] = uniform_inputs(s);
            std::vector<float> want(size_t(s.weight_elems()));
            cpu::conv2d_bwd_weight(want.data(), dy.data(), x.data(), s, GradMode::kOverwrite);
            const std::vector<float> start = uniform(s.weight_elems(), 16);
            const double tol = tol_for_sum(int64_t(s.n) * s.h * s.w);
            const std::vector<WeightVersion> runs = weight_runs(s);
            CHECK(runs.size() == 4);  // v1, cublas, v3 and the launcher
            check_bwd_versions(runs, s, DeviceVec(dy), DeviceVec(x), want, tol, "dw", &start,
                               /*repeat=*/true);
        }
    }

    TEST_CASE("conv2d bwd_weight cuda 1x1: v3 accumulating twice onto one start repeats") {
        const Conv2dShape s{.n = 64, .c_in = 21, .h = 3, .w = 3, .c_out = 35, .k = 1};
        const WeightVersion* v3 = nullptr;
        for (const WeightVersion& v : cuda::conv2d_bwd_weight_versions())
            if (std::string(v.name) == "v3") v3 = &v;
        REQUIRE(v3 != nullptr);
        const auto [x, w, dy] = uniform_inputs(s);
        const std::vector<float> start = uniform(s.weight_elems(), 17);
        const DeviceVec x_dev(x), dy_dev(dy);
        // Two independent accumulations onto the same random start must agree bit for bit.
        std::vector<float> results[2];
        for (std::vector<float>& r : results) {
            const DeviceVec dw_dev(start);
            v3->launch(dw_dev.data(), dy_dev.data(), x_dev.data(), s, GradMode::kAccumulate,
                       test_stream());
            r = fetch(dw_dev);
        }
        CHECK(results[0] == results[1]);
        CHECK(results[0] != start);  // the gradient was added
    }

    TEST_CASE("conv2d cuda: small-integer inputs give exactly the cpu result in every version") {
        std::vector<Conv2dShape> shapes = shapes::odd_conv2d();
        for (const Conv2dShape& s : odd_pointwise_shapes()) shapes.push_back(s);
        for (const Conv2dShape& s : shapes::darts_conv2d(big_batch()))
            if (s.c_in == 16 || s.k == 1 || !s.is_depthwise()) shapes.push_back(s);
        for (const Conv2dShape& s : shapes) {
            CAPTURE(s);
            check_all_directions(s, small_ints(s.in_elems(), 41), small_ints(s.weight_elems(), 42),
                                 small_ints(s.out_elems(), 43), 0, 0, 0);
        }
    }

    TEST_CASE(
        "conv2d cuda: v1 and v2 both cover every DARTS depthwise shape, cublas and pw every 1x1") {
        for (const Conv2dShape& s : shapes::darts_conv2d(big_batch())) {
            CAPTURE(s);
            const bool pointwise = s.k == 1 && s.stride == 1 && s.pad == 0 && s.groups == 1;
            // Each direction's v1 takes every shape, v2 the depthwise ones, cublas, pw and v3 the
            // 1x1 ones.
            const auto check_support = [&](const auto& versions) {
                for (const auto& v : versions) {
                    CAPTURE(v.name);
                    const std::string name = v.name;
                    if (name == "v1") CHECK(v.supports(s));
                    if (name == "v2") CHECK(v.supports(s) == s.is_depthwise());
                    if (name == "cublas" || name == "v3" || name == "pw")
                        CHECK(v.supports(s) == pointwise);
                }
            };
            check_support(cuda::conv2d_fwd_versions());
            check_support(cuda::conv2d_bwd_data_versions());
            check_support(cuda::conv2d_bwd_weight_versions());
        }
        CHECK(cuda::conv2d_fwd_versions().size() == 4);         // v1, v2, cublas, pw
        CHECK(cuda::conv2d_bwd_data_versions().size() == 4);    // v1, v2, cublas, pw
        CHECK(cuda::conv2d_bwd_weight_versions().size() == 4);  // v1, v2, cublas, v3
    }

    TEST_CASE("conv2d cuda: an empty batch writes nothing but still overwrites dw with zeros") {
        for (const int k : {1, 3}) {
            const Conv2dShape s{.n = 0,
                                .c_in = 4,
                                .h = 5,
                                .w = 5,
                                .c_out = 4,
                                .k = k,
                                .pad = k / 2,
                                .groups = k == 1 ? 1 : 4};
            CAPTURE(s);
            for (const FwdVersion& v : fwd_runs(s)) {
                CAPTURE(v.name);
                v.launch(nullptr, nullptr, nullptr, s, test_stream());
            }
            for (const DataVersion& v : data_runs(s)) {
                CAPTURE(v.name);
                v.launch(nullptr, nullptr, nullptr, s, GradMode::kOverwrite, test_stream());
            }
            const std::vector<float> sevens(size_t(s.weight_elems()), 7.f);
            for (const WeightVersion& v : weight_runs(s)) {
                CAPTURE(v.name);
                const DeviceVec dw_dev(sevens), acc_dev(sevens);
                v.launch(dw_dev.data(), nullptr, nullptr, s, GradMode::kOverwrite, test_stream());
                CHECK(fetch(dw_dev) == std::vector<float>(sevens.size(), 0.f));
                v.launch(acc_dev.data(), nullptr, nullptr, s, GradMode::kAccumulate, test_stream());
                CHECK(fetch(acc_dev) == sevens);
            }
        }
    }

    TEST_CASE("conv2d cuda: versions refuse shapes they do not support; the launcher falls back") {
        // Dense 3x3: neither v2 nor cublas. Depthwise 7x7 at dilation 100: the window of one output
        // overflows v2's shared memory budget, so the launcher must take v1.
        const Conv2dShape dense{.n = 2, .c_in = 4, .h = 9, .w = 8, .c_out = 6, .k = 3, .pad = 1};
        const Conv2dShape wide{
            .n = 1, .c_in = 2, .h = 601, .w = 601, .c_out = 2, .k = 7, .dil = 100, .groups = 2};
        const DeviceVec buf = DeviceVec::poisoned(2 * 601 * 601);
        for (const Conv2dShape& s : {dense, wide}) {
            CAPTURE(s);
            for (const FwdVersion& v : cuda::conv2d_fwd_versions())
                if (!v.supports(s))
                    CHECK_THROWS_AS(v.launch(buf.data(), buf.data(), buf.data(), s, test_stream()),
                                    Error);
            for (const DataVersion& v : cuda::conv2d_bwd_data_versions())
                if (!v.supports(s))
                    CHECK_THROWS_AS(v.launch(buf.data(), buf.data(), buf.data(), s,
                                             GradMode::kOverwrite, test_stream()),
                                    Error);
            for (const WeightVersion& v : cuda::conv2d_bwd_weight_versions())
                if (!v.supports(s))
                    CHECK_THROWS_AS(v.launch(buf.data(), buf.data(), buf.data(), s,
                                             GradMode::kOverwrite, test_stream()),
                                    Error);
        }
        // A 1x1 conv of 600 input channels: pw's slice of the weights overflows its shared
        // memory budget, so the launchers take cuBLAS.
        const Conv2dShape broad{.n = 2, .c_in = 600, .h = 3, .w = 2, .c_out = 3, .k = 1};
        CHECK(std::string(cuda::conv2d_fwd_versions()[3].name) == "pw");
        CHECK_FALSE(cuda::conv2d_fwd_versions()[3].supports(broad));
        CHECK(std::string(cuda::conv2d_bwd_data_versions()[3].name) == "pw");
        CHECK_FALSE(cuda::conv2d_bwd_data_versions()[3].supports(broad));
        CHECK(cuda::conv2d_fwd_versions()[2].supports(broad));
        check_all_directions(broad, uniform(broad.in_elems(), 54),
                             uniform(broad.weight_elems(), 55), uniform(broad.out_elems(), 56),
                             tol_for_sum(600), tol_for_sum(3), tol_for_sum(12));
        CHECK_FALSE(cuda::conv2d_fwd_versions()[1].supports(wide));
        CHECK_FALSE(cuda::conv2d_bwd_data_versions()[1].supports(wide));
        CHECK_FALSE(cuda::conv2d_bwd_weight_versions()[1].supports(wide));
        const double t_fwd = tol_for_sum(49),
                     t_weight = tol_for_sum(int64_t(wide.ho()) * wide.wo());
        check_all_directions(wide, uniform(wide.in_elems(), 51), uniform(wide.weight_elems(), 52),
                             uniform(wide.out_elems(), 53), t_fwd, t_fwd, t_weight);

        Conv2dShape bad = dense;
        bad.c_in = 0;
        CHECK_THROWS_AS(cuda::conv2d_fwd(buf.data(), buf.data(), buf.data(), bad, test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::conv2d_bwd_data(buf.data(), buf.data(), buf.data(), bad,
                                              GradMode::kOverwrite, test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::conv2d_bwd_weight(buf.data(), buf.data(), buf.data(), bad,
                                                GradMode::kOverwrite, test_stream()),
                        Error);
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
