// Philox-4x32-10 against the Random123 known-answer vectors, the (seed, offset, i) mapping of
// kernels/philox.h, and the fills of kernels/rng.h: range, moments, reproducibility, element i
// independent of n, Box-Muller pairing, and dropout masks.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "kernels/check.h"
#include "kernels/philox.h"
#include "kernels/rng.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

constexpr int64_t kDraws = 100000;

struct Moments {
    double mean, stddev;
};

Moments moments(const std::vector<float>& v) {
    double s = 0, s2 = 0;
    for (float x : v) {
        s += x;
        s2 += double(x) * x;
    }
    const double n = double(v.size()), mean = s / n;
    return {mean, std::sqrt(s2 / n - mean * mean)};
}

void check_kat(philox::U32x4 ctr, uint32_t k0, uint32_t k1, philox::U32x4 want) {
    const philox::U32x4 got = philox::philox4x32_10(ctr, k0, k1);
    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        CHECK(got.v[i] == want.v[i]);
    }
}

}  // namespace

TEST_SUITE("rng") {
    TEST_CASE("philox4x32_10: matches the Random123 known-answer vectors") {
        // kat_vectors from Random123 (philox4x32 with 10 rounds): counter, key, expected output.
        check_kat({{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}});
        check_kat({{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
                  {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}});
        check_kat({{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
                  {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}});
    }

    TEST_CASE("philox bits: element i is lane i % 4 of counter (i / 4, offset), key seed") {
        const uint64_t seed = 0x0000000200000007ull, offset = 0x0000000100000003ull;
        const uint64_t i = (uint64_t(5) << 32) * 4 + 4 * 9 + 2;  // block index above 2^32
        const uint64_t b = i / 4;
        const philox::U32x4 ctr{{uint32_t(b), uint32_t(b >> 32), 3u, 1u}};
        const philox::U32x4 want = philox::philox4x32_10(ctr, 7u, 2u);
        CHECK(philox::bits(seed, offset, i) == want.v[2]);
        CHECK(philox::bits(seed, offset, i + 1) == want.v[3]);
    }

    TEST_CASE("philox to_unit: 24-bit floats in [0, 1)") {
        CHECK(philox::to_unit(0u) == 0.f);
        CHECK(philox::to_unit(0xffu) == 0.f);  // the low 8 bits are dropped
        CHECK(philox::to_unit(0x100u) == std::ldexp(1.f, -24));
        CHECK(philox::to_unit(0xffffffffu) == 1.f - std::ldexp(1.f, -24));
    }

    TEST_CASE("rng_uniform: in [lo, hi) with the moments of a uniform") {
        std::vector<float> u(kDraws);
        cpu::rng_uniform(u.data(), kDraws, 0.f, 1.f, /*seed=*/42, /*offset=*/0);
        for (float x : u) REQUIRE((x >= 0.f && x < 1.f));
        const Moments m = moments(u);
        // Standard errors over 1e5 draws: 9e-4 for the mean, 6e-4 for the std; 6 sigma margins.
        CHECK(std::fabs(m.mean - 0.5) < 0.0055);
        CHECK(std::fabs(m.stddev - std::sqrt(1.0 / 12)) < 0.004);

        std::vector<float> v(1000);
        cpu::rng_uniform(v.data(), 1000, -2.f, 3.f, /*seed=*/42, /*offset=*/0);
        for (size_t i = 0; i < v.size(); ++i) {
            CAPTURE(i);
            REQUIRE((v[i] >= -2.f && v[i] < 3.f));
            CHECK(v[i] == -2.f + 5.f * u[i]);  // the same stream, rescaled
        }
    }

    TEST_CASE("rng_uniform: a stream depends on (seed, offset) and element i not on n") {
        constexpr int64_t kN = 1000;
        std::vector<float> a(kN), b(kN), c(kN), d(kN), first(10);
        cpu::rng_uniform(a.data(), kN, 0.f, 1.f, 7, 3);
        cpu::rng_uniform(b.data(), kN, 0.f, 1.f, 7, 3);
        cpu::rng_uniform(c.data(), kN, 0.f, 1.f, 7, 4);
        cpu::rng_uniform(d.data(), kN, 0.f, 1.f, 8, 3);
        cpu::rng_uniform(first.data(), 10, 0.f, 1.f, 7, 3);
        CHECK(a == b);
        int same_offset = 0, same_seed = 0;
        for (int64_t i = 0; i < kN; ++i) {
            same_offset += a[size_t(i)] == c[size_t(i)];
            same_seed += a[size_t(i)] == d[size_t(i)];
        }
        CHECK(same_offset < 5);  // 24-bit values: a chance match is ~1e-4 per element
        CHECK(same_seed < 5);
        for (size_t i = 0; i < first.size(); ++i) CHECK(first[i] == a[i]);
    }

    TEST_CASE("rng_normal: Box-Muller pairs, odd n, and the moments of N(mean, std)") {
        constexpr uint64_t kSeed = 123, kOffset = 9;
        std::vector<float> z(kDraws);
        cpu::rng_normal(z.data(), kDraws, 0.f, 1.f, kSeed, kOffset);
        const Moments m = moments(z);
        CHECK(std::fabs(m.mean) < 0.02);           // standard error 3.2e-3
        CHECK(std::fabs(m.stddev - 1.0) < 0.015);  // standard error 2.2e-3
        int64_t within_one = 0;
        for (float x : z) within_one += std::fabs(x) < 1.f;
        CHECK(double(within_one) / kDraws == doctest::Approx(0.682689).epsilon(0.02));

        // Pair j: r = sqrt(-2 ln(1 - u_{2j})), t = 2 pi u_{2j+1}; cos for even i, sin for odd i.
        for (uint64_t j : {0u, 1u, 777u}) {
            CAPTURE(j);
            const double u = philox::uniform(kSeed, kOffset, 2 * j);
            const double u2 = philox::uniform(kSeed, kOffset, 2 * j + 1);
            const double r = std::sqrt(-2 * std::log(1 - u)), t = 2 * std::numbers::pi * u2;
            CHECK(z[2 * j] == doctest::Approx(r * std::cos(t)).epsilon(1e-6));
            CHECK(z[2 * j + 1] == doctest::Approx(r * std::sin(t)).epsilon(1e-6));
        }

        std::vector<float> odd(7), scaled(7);
        cpu::rng_normal(odd.data(), 7, 0.f, 1.f, kSeed, kOffset);
        cpu::rng_normal(scaled.data(), 7, 3.f, 2.f, kSeed, kOffset);
        for (size_t i = 0; i < odd.size(); ++i) {
            CAPTURE(i);
            CHECK(odd[i] == z[i]);  // the last, unpaired element is its pair's cosine
            CHECK(scaled[i] == doctest::Approx(3.0 + 2.0 * z[i]).epsilon(1e-6));
        }
    }

    TEST_CASE("dropout_mask: keeps a 1 - p fraction, scaled to 1/(1-p), and p = 0 keeps all") {
        constexpr float kP = 0.3f;
        const float keep = 1.f / (1.f - kP);
        std::vector<float> mask(kDraws), u(kDraws);
        cpu::dropout_mask(mask.data(), kDraws, kP, /*seed=*/5, /*offset=*/2);
        cpu::rng_uniform(u.data(), kDraws, 0.f, 1.f, /*seed=*/5, /*offset=*/2);
        int64_t kept = 0;
        for (int64_t i = 0; i < kDraws; ++i) {
            const float m = mask[size_t(i)];
            REQUIRE((m == 0.f || m == keep));
            REQUIRE((m != 0.f) == (u[size_t(i)] >= kP));  // driven by the same uniform stream
            kept += m != 0.f;
        }
        CHECK(std::fabs(double(kept) / kDraws - 0.7) < 0.01);  // standard error 1.4e-3

        std::vector<float> ones(1001, 0.f);
        cpu::dropout_mask(ones.data(), 1001, 0.f, 5, 2);
        for (float m : ones) REQUIRE(m == 1.f);
        CHECK_THROWS_AS(cpu::dropout_mask(ones.data(), 1001, 1.f, 5, 2), Error);
    }

}  // TEST_SUITE
