// CUDA strided sampling (kernels/resample.h) and channel concatenation (kernels/concat.h) against
// the CPU reference. Both are pure copies (and x * 0 for the `none` op), so every output must
// equal the CPU's exactly, in both GradModes (accumulate does the same single float addition on
// both devices). Shapes: odd ones (N=3, C=5, 7x7, 17x34, stride 3, offsets 0, 1 and 2) and the
// DARTS ones of bench/shapes.h at big_batch() (C=16 32x32, C=32 16x16, C=64 8x8:
// FactorizedReduce's two stride-2 branches, and the cell outputs' channel concatenation). Outputs
// start as NaN, accumulation starts from non-zero values, and the guard zone of tests/cuda_util.h
// catches overruns. Runs only with a GPU (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "kernels/check.h"
#include "kernels/concat.h"
#include "kernels/resample.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

TEST_SUITE("cuda_resample") {
    TEST_CASE("subsample fwd: cuda equals cpu exactly on odd and DARTS shapes") {
        for (const SubsampleShape& s : shapes::subsample(big_batch())) {
            CAPTURE(s);
            check_fwd_match(cpu::subsample_fwd, cuda::subsample_fwd, s, s.in_elems(), s.out_elems(),
                            101, 0, "subsample y");
        }
    }

    TEST_CASE("subsample bwd: cuda gather equals cpu in both GradModes, zeros where not sampled") {
        for (const SubsampleShape& s : shapes::subsample(big_batch())) {
            CAPTURE(s);
            check_bwd_match(cpu::subsample_bwd, cuda::subsample_bwd, s, s.in_elems(), s.out_elems(),
                            102, 0, 0, "subsample dx");
        }
    }

    TEST_CASE("zero fwd: cuda equals cpu bit for bit, -0 included, NaN and Inf giving NaN") {
        for (const SubsampleShape& s : shapes::subsample(big_batch())) {
            CAPTURE(s);
            std::vector<float> x = uniform(s.in_elems(), 103);
            // The samples of outputs (0, 0) and (0, 1) of the first plane become NaN and +Inf.
            const size_t first = size_t(s.offset * s.w + s.offset);
            x[first] = std::numeric_limits<float>::quiet_NaN();
            x[first + size_t(s.stride)] = std::numeric_limits<float>::infinity();
            const auto [got, want] = run_fwd_both(
                x, s.out_elems(), [&](float* y, const float* xp) { cpu::zero_fwd(y, xp, s); },
                [&](float* y, const float* xp) { cuda::zero_fwd(y, xp, s, test_stream()); });
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
        for (const ChannelRangeShape& s : shapes::channel_range(big_batch())) {
            CAPTURE(s);
            const std::vector<float> x = uniform(s.part_elems(), 111);
            // y outside the range keeps its values; inside it starts as NaN and must be
            // overwritten.
            std::vector<float> y0 = uniform(int64_t(s.n) * s.c_total * s.hw, 112);
            for (int i = 0; i < s.n; ++i)
                for (int64_t k = 0; k < int64_t(s.c_part) * s.hw; ++k)
                    y0[size_t((int64_t(i) * s.c_total + s.c_begin) * s.hw + k)] = NAN;
            DeviceVec x_dev(x);
            check_modes_match(
                y0, [&](float* y, GradMode m) { cpu::channel_insert(y, x.data(), s, m); },
                [&](float* y, GradMode m) {
                    cuda::channel_insert(y, x_dev.data(), s, m, test_stream());
                },
                0, 0, "channel_insert y");
        }
    }

    TEST_CASE("channel_extract: cuda equals cpu in both GradModes") {
        for (const ChannelRangeShape& s : shapes::channel_range(big_batch())) {
            CAPTURE(s);
            check_bwd_match(cpu::channel_extract, cuda::channel_extract, s, s.part_elems(),
                            int64_t(s.n) * s.c_total * s.hw, 113, 0, 0, "channel_extract x");
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
