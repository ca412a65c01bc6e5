// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. Element i of a stream (seed, offset) is a pure function of
// (seed, offset, i), so CPU and GPU produce bit-identical uniforms in any thread order, and a
// stream can be resumed from a saved (seed, offset) without replaying it.
// Mapping: 128-bit counter = (i / 4 low, i / 4 high, offset low, offset high), 64-bit key = seed;
// element i is lane i % 4. A uint32 becomes a float in [0, 1) from its top 24 bits (exact in
// fp32). Normals use Box-Muller in double on both backends so they agree to the last bit except
// where the device's and the host's libm round differently (at most 1 ulp in float).
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace cudarts::philox {

struct U32x4 {
    uint32_t v[4];
};

constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;    // round multipliers (paper)
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule constants

CUDARTS_HD inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
    const uint64_t p = uint64_t(a) * uint64_t(b);
    hi = uint32_t(p >> 32);
    lo = uint32_t(p);
}

CUDARTS_HD inline U32x4 philox4x32_10(U32x4 ctr, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(kMul0, ctr.v[0], hi0, lo0);
        mulhilo(kMul1, ctr.v[2], hi1, lo1);
        ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
        k0 += kWeyl0;
        k1 += kWeyl1;
    }
    return ctr;
}

// The four uint32 of block b (elements 4b .. 4b+3) of stream (seed, offset).
CUDARTS_HD inline U32x4 block(uint64_t seed, uint64_t offset, uint64_t b) {
    const U32x4 ctr{{uint32_t(b), uint32_t(b >> 32), uint32_t(offset), uint32_t(offset >> 32)}};
    return philox4x32_10(ctr, uint32_t(seed), uint32_t(seed >> 32));
}

CUDARTS_HD inline uint32_t bits(uint64_t seed, uint64_t offset, uint64_t i) {
    return block(seed, offset, i / 4).v[i % 4];
}

// [0, 1) with 24 random bits: exactly representable, never 1.
CUDARTS_HD inline float to_unit(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }

CUDARTS_HD inline float uniform(uint64_t seed, uint64_t offset, uint64_t i) {
    return to_unit(bits(seed, offset, i));
}

}  // namespace cudarts::philox
