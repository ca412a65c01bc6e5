// CUDA random fills against the CPU reference (kernels/rng.h). Uniforms and dropout masks must be
// bitwise equal; normals within 2 float ulp, because device and host libm may round the last bit
// of a double log or sin differently (kernels/philox.h). Sizes straddle Philox blocks
// (n % 4 != 0), seeds and offsets use both 32-bit halves, outputs start as NaN, and the guard
// zone of tests/cuda_util.h catches a kernel writing past n. Runs only with a GPU (tests/main.cpp
// skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <utility>
#include <vector>

#include "engine/memory.h"
#include "kernels/check.h"
#include "kernels/rng.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

struct FillCase {
    int64_t n;
    uint64_t seed, offset;
};
std::ostream& operator<<(std::ostream& os, const FillCase& c) {
    return os << "FillCase{n=" << c.n << " seed=" << c.seed << " offset=" << c.offset << "}";
}

// Partial blocks at both ends of the size range; seeds and offsets above 2^32 exercise the high
// halves of Philox's key and counter.
const std::vector<FillCase> kCases = {
    {1, 0, 0},
    {3, 1, 5},
    {4, 42, 0},
    {7, 0x1234567890abcdefull, (1ull << 33) | 7},
    {1023, 7, 3},
    {4097, 99, 0xffffffffull},
    {(1 << 20) + 3, 2024, 12345},
};

// Floats as integers that increase with the value, so the difference counts representable steps.
int64_t ordered(float x) {
    const int32_t i = std::bit_cast<int32_t>(x);
    return i < 0 ? -int64_t(i & 0x7fffffff) : int64_t(i);
}

// Elements more than max_ulp apart (or NaN); prints the first few.
int64_t mismatches(const std::vector<float>& got, const std::vector<float>& want, int64_t max_ulp) {
    int64_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const int64_t ulp = std::abs(ordered(got[i]) - ordered(want[i]));
        if (ulp <= max_ulp && !std::isnan(got[i])) continue;
        if (++bad <= 5)
            MESSAGE("element " << i << ": cuda " << got[i] << " cpu " << want[i] << " (" << ulp
                               << " ulp)");
    }
    return bad;
}

TEST_SUITE("cuda_rng") {
    TEST_CASE("rng_uniform cuda: bitwise equal to cpu for every size, seed and offset") {
        for (const FillCase& c : kCases) {
            CAPTURE(c);
            std::vector<float> want(size_t(c.n));
            cpu::rng_uniform(want.data(), c.n, -0.5f, 2.f, c.seed, c.offset);
            DeviceVec y_dev = DeviceVec::poisoned(c.n);
            cuda::rng_uniform(y_dev.data(), c.n, -0.5f, 2.f, c.seed, c.offset, test_stream());
            CHECK(mismatches(fetch(y_dev), want, 0) == 0);
        }
    }

    TEST_CASE("rng_normal cuda: within 2 ulp of cpu, odd n included") {
        for (const FillCase& c : kCases) {
            for (const auto& [mean, stddev] : {std::pair{0.f, 1.f}, std::pair{3.f, 0.5f}}) {
                CAPTURE(c);
                CAPTURE(mean);
                CAPTURE(stddev);
                std::vector<float> want(size_t(c.n));
                cpu::rng_normal(want.data(), c.n, mean, stddev, c.seed, c.offset);
                DeviceVec y_dev = DeviceVec::poisoned(c.n);
                cuda::rng_normal(y_dev.data(), c.n, mean, stddev, c.seed, c.offset, test_stream());
                CHECK(mismatches(fetch(y_dev), want, 2) == 0);
            }
        }
    }

    TEST_CASE("dropout_mask cuda: bitwise equal to cpu for p = 0, 0.2, 0.5 and 0.9") {
        for (const FillCase& c : kCases) {
            for (float p : {0.f, 0.2f, 0.5f, 0.9f}) {
                CAPTURE(c);
                CAPTURE(p);
                std::vector<float> want(size_t(c.n));
                cpu::dropout_mask(want.data(), c.n, p, c.seed, c.offset);
                DeviceVec mask_dev = DeviceVec::poisoned(c.n);
                cuda::dropout_mask(mask_dev.data(), c.n, p, c.seed, c.offset, test_stream());
                CHECK(mismatches(fetch(mask_dev), want, 0) == 0);
            }
        }
    }

    TEST_CASE("rng cuda: n = 0 launches nothing, p outside [0, 1) throws") {
        cuda::rng_uniform(nullptr, 0, 0.f, 1.f, 1, 0, test_stream());
        cuda::rng_normal(nullptr, 0, 0.f, 1.f, 1, 0, test_stream());
        DeviceVec mask_dev = DeviceVec::poisoned(8);
        CHECK_THROWS_AS(cuda::dropout_mask(mask_dev.data(), 8, 1.f, 1, 0, test_stream()), Error);
        CHECK_THROWS_AS(cuda::dropout_mask(mask_dev.data(), 8, -0.1f, 1, 0, test_stream()), Error);
        CHECK_THROWS_AS(cuda::rng_uniform(mask_dev.data(), -1, 0.f, 1.f, 1, 0, test_stream()),
                        Error);
        const std::vector<float> untouched = fetch(mask_dev);
        for (float v : untouched) CHECK(std::isnan(v));
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
