// CUDA strided sampling (kernels/resample.h) and channel concatenation (kernels/concat.h) against
// the CPU reference. Both are pure copies (and x * 0 for the `none` op), so every output must
// equal the CPU's exactly, in both GradModes (accumulate does the same single float addition on
// both devices). Shapes: odd ones (N=3, C=5, 7x7, 17x34, stride 3, offsets 0, 1 and 2) and the
// DARTS ones at N=64 (C=16 32x32, C=32 16x16, C=64 8x8: FactorizedReduce's two stride-2 branches,
// and the cell outputs' channel concatenation). Outputs start as NaN, accumulation starts from
// non-zero values, and the guard zone of tests/cuda_util.h catches overruns.
// Runs only with a GPU (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/concat.h"
#include "kernels/resample.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using test::check_close;
using test::DeviceVec;
using test::fetch;
using test::test_stream;

// Odd sizes at both offsets, a stride that leaves a remainder, the identity (stride 1), then the
// DARTS reductions at N=64: offset 0 and 1 are FactorizedReduce's two branches.
std::vector<SubsampleShape> subsample_cuda_shapes() {
    return {
        {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 2, .offset = 0},
        {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 2, .offset = 1},
        {.n = 2, .c = 3, .h = 17, .w = 34, .stride = 2, .offset = 0},
        {.n = 2, .c = 3, .h = 17, .w = 34, .stride = 2, .offset = 1},
        {.n = 1, .c = 2, .h = 9, .w = 10, .stride = 3, .offset = 2},
        {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 1, .offset = 0},
        {.n = 64, .c = 16, .h = 32, .w = 32, .stride = 2, .offset = 0},
        {.n = 64, .c = 16, .h = 32, .w = 32, .stride = 2, .offset = 1},
        {.n = 64, .c = 32, .h = 16, .w = 16, .stride = 2, .offset = 0},
        {.n = 64, .c = 32, .h = 16, .w = 16, .stride = 2, .offset = 1},
        {.n = 64, .c = 64, .h = 8, .w = 8, .stride = 2, .offset = 0},
        {.n = 64, .c = 64, .h = 8, .w = 8, .stride = 2, .offset = 1},
    };
}

// Odd ranges (first, middle, last, a single channel, hw = 1, 17x34), then DARTS cell outputs at
// N=64: four intermediate nodes of C channels concatenated into 4C, each node one insert.
std::vector<ChannelRangeShape> channel_range_cuda_shapes() {
    return {
        {.n = 3, .c_total = 11, .hw = 49, .c_begin = 0, .c_part = 5},
        {.n = 3, .c_total = 11, .hw = 49, .c_begin = 5, .c_part = 6},
        {.n = 3, .c_total = 11, .hw = 49, .c_begin = 4, .c_part = 1},
        {.n = 5, .c_total = 7, .hw = 1, .c_begin = 2, .c_part = 3},
        {.n = 2, .c_total = 9, .hw = 17 * 34, .c_begin = 3, .c_part = 4},
        {.n = 64, .c_total = 64, .hw = 32 * 32, .c_begin = 16, .c_part = 16},
        {.n = 64, .c_total = 128, .hw = 16 * 16, .c_begin = 96, .c_part = 32},
        {.n = 64, .c_total = 256, .hw = 8 * 8, .c_begin = 0, .c_part = 64},
    };
}

using Write = std::function<void(float* out, GradMode mode)>;

// A kernel writing `size` floats with GradMode, on both devices in both modes: overwrite onto
// `over_start` (NaN wherever every element must be written), accumulate onto non-zero values.
// Exact: both devices copy, or add once in float.
void check_both_modes(const std::vector<float>& over_start, const Write& cpu_write,
                      const Write& cuda_write, const std::string& what) {
    std::vector<float> want = over_start;
    cpu_write(want.data(), GradMode::kOverwrite);
    DeviceVec over_dev(over_start);
    cuda_write(over_dev.data(), GradMode::kOverwrite);
    check_close(fetch(over_dev), want, 0, 0, what + " overwrite");

    const std::vector<float> start = test::uniform(int64_t(over_start.size()), 99);
    std::vector<float> want_acc = start;
    cpu_write(want_acc.data(), GradMode::kAccumulate);
    DeviceVec acc_dev(start);
    cuda_write(acc_dev.data(), GradMode::kAccumulate);
    check_close(fetch(acc_dev), want_acc, 0, 0, what + " accumulate");
}

std::vector<float> nans(int64_t n) {
    return std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN());
}

TEST_SUITE("cuda_resample") {
    TEST_CASE("subsample fwd: cuda equals cpu exactly on odd and DARTS shapes") {
        for (const SubsampleShape& s : subsample_cuda_shapes()) {
            CAPTURE(s);
            const std::vector<float> x = test::uniform(s.in_elems(), 101);
            std::vector<float> want(size_t(s.out_elems()));
            cpu::subsample_fwd(want.data(), x.data(), s);
            DeviceVec x_dev(x), y_dev = DeviceVec::poisoned(s.out_elems());
            cuda::subsample_fwd(y_dev.data(), x_dev.data(), s, test_stream());
            check_close(fetch(y_dev), want, 0, 0, "subsample y");
        }
    }

    TEST_CASE("subsample bwd: cuda gather equals cpu in both GradModes, zeros where not sampled") {
        for (const SubsampleShape& s : subsample_cuda_shapes()) {
            CAPTURE(s);
            const std::vector<float> dy = test::uniform(s.out_elems(), 102);
            DeviceVec dy_dev(dy);
            check_both_modes(
                nans(s.in_elems()),
                [&](float* dx, GradMode m) { cpu::subsample_bwd(dx, dy.data(), s, m); },
                [&](float* dx, GradMode m) {
                    cuda::subsample_bwd(dx, dy_dev.data(), s, m, test_stream());
                },
                "subsample dx");
        }
    }

    TEST_CASE("zero fwd: cuda equals cpu bit for bit, -0 included, NaN and Inf giving NaN") {
        for (const SubsampleShape& s : subsample_cuda_shapes()) {
            CAPTURE(s);
            std::vector<float> x = test::uniform(s.in_elems(), 103);
            // The samples of outputs (0, 0) and (0, 1) of the first plane become NaN and +Inf.
            const size_t first = size_t(s.offset * s.w + s.offset);
            x[first] = std::numeric_limits<float>::quiet_NaN();
            x[first + size_t(s.stride)] = std::numeric_limits<float>::infinity();
            std::vector<float> want(size_t(s.out_elems()));
            cpu::zero_fwd(want.data(), x.data(), s);
            DeviceVec x_dev(x), y_dev = DeviceVec::poisoned(s.out_elems());
            cuda::zero_fwd(y_dev.data(), x_dev.data(), s, test_stream());
            const std::vector<float> got = fetch(y_dev);
            int bad = 0;
            for (size_t i = 0; i < got.size(); ++i) {
                // NaN payloads may differ between devices; everything else must match in every bit.
                const bool same = std::isnan(want[i]) ? std::isnan(got[i])
                                                      : std::bit_cast<uint32_t>(got[i]) ==
                                                            std::bit_cast<uint32_t>(want[i]);
                if (!same && ++bad <= 5)
                    MESSAGE("[" << i << "] cuda " << got[i] << " cpu " << want[i]);
            }
            CHECK(bad == 0);
            CHECK(std::isnan(got[0]));
            CHECK(std::isnan(got[1]));
        }
    }

    TEST_CASE("channel_insert: cuda equals cpu in both GradModes, the rest of y untouched") {
        for (const ChannelRangeShape& s : channel_range_cuda_shapes()) {
            CAPTURE(s);
            const std::vector<float> x = test::uniform(s.part_elems(), 111);
            // y outside the range keeps its values; inside it starts as NaN and must be
            // overwritten.
            std::vector<float> y0 = test::uniform(int64_t(s.n) * s.c_total * s.hw, 112);
            for (int i = 0; i < s.n; ++i)
                for (int64_t k = 0; k < int64_t(s.c_part) * s.hw; ++k)
                    y0[size_t((int64_t(i) * s.c_total + s.c_begin) * s.hw + k)] = NAN;
            DeviceVec x_dev(x);
            check_both_modes(
                y0, [&](float* y, GradMode m) { cpu::channel_insert(y, x.data(), s, m); },
                [&](float* y, GradMode m) {
                    cuda::channel_insert(y, x_dev.data(), s, m, test_stream());
                },
                "channel_insert y");
        }
    }

    TEST_CASE("channel_extract: cuda equals cpu in both GradModes") {
        for (const ChannelRangeShape& s : channel_range_cuda_shapes()) {
            CAPTURE(s);
            const std::vector<float> y = test::uniform(int64_t(s.n) * s.c_total * s.hw, 113);
            DeviceVec y_dev(y);
            check_both_modes(
                nans(s.part_elems()),
                [&](float* x, GradMode m) { cpu::channel_extract(x, y.data(), s, m); },
                [&](float* x, GradMode m) {
                    cuda::channel_extract(x, y_dev.data(), s, m, test_stream());
                },
                "channel_extract x");
        }
    }

    TEST_CASE("resample and concat cuda: empty work launches nothing, bad shapes throw") {
        const SubsampleShape empty{.n = 0, .c = 4, .h = 8, .w = 8, .stride = 2, .offset = 1};
        cuda::subsample_fwd(nullptr, nullptr, empty, test_stream());
        cuda::subsample_bwd(nullptr, nullptr, empty, GradMode::kOverwrite, test_stream());
        cuda::zero_fwd(nullptr, nullptr, empty, test_stream());
        const ChannelRangeShape no_part{.n = 4, .c_total = 8, .hw = 16, .c_begin = 8, .c_part = 0};
        cuda::channel_insert(nullptr, nullptr, no_part, GradMode::kOverwrite, test_stream());
        cuda::channel_extract(nullptr, nullptr, no_part, GradMode::kAccumulate, test_stream());

        DeviceVec v = DeviceVec::poisoned(16);
        const SubsampleShape bad{.n = 1, .c = 1, .h = 4, .w = 4, .stride = 2, .offset = 4};
        CHECK_THROWS_AS(cuda::subsample_fwd(v.data(), v.data(), bad, test_stream()), Error);
        const ChannelRangeShape past{.n = 1, .c_total = 4, .hw = 4, .c_begin = 2, .c_part = 3};
        CHECK_THROWS_AS(
            cuda::channel_insert(v.data(), v.data(), past, GradMode::kOverwrite, test_stream()),
            Error);
        for (float f : fetch(v)) CHECK(std::isnan(f));
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
