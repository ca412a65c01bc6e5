// Random fills from the Philox-4x32-10 stream of kernels/philox.h, the reference for
// kernels/rng.h. Element i is computed from (seed, offset, i) alone, so a fill of 10 elements is
// the first 10 of a fill of 1000 and the CUDA backend, which gives each thread its own i, must
// produce the same numbers. Uniforms are lo + (hi - lo) u in float, as the header writes them.
// Normals: Box-Muller in double on the pair (u_{2j}, u_{2j+1}); element 2j takes the cosine and
// 2j+1 the sine, and an odd last element uses its pair's cosine alone, so it too is independent
// of n. log(1 - u) rather than log(u) because u can be 0 but never 1. mean + std z is formed in
// double and rounded once. Dropout masks keep element i when u_i >= p (probability 1 - p) and
// scale it by 1 / (1 - p) computed in float, so every kept value is the same float.
#include "kernels/rng.h"

#include <cmath>
#include <numbers>

#include "kernels/check.h"
#include "kernels/philox.h"

namespace cudarts::cpu {

void rng_uniform(float* y, int64_t n, float lo, float hi, uint64_t seed, uint64_t offset) {
    CUDARTS_CHECK(n >= 0, "rng_uniform: n=" << n);
    for (int64_t i = 0; i < n; ++i) y[i] = lo + (hi - lo) * philox::uniform(seed, offset, i);
}

void rng_normal(float* y, int64_t n, float mean, float stddev, uint64_t seed, uint64_t offset) {
    CUDARTS_CHECK(n >= 0, "rng_normal: n=" << n);
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t j = uint64_t(i) / 2;
        const double u = philox::uniform(seed, offset, 2 * j);
        const double u2 = philox::uniform(seed, offset, 2 * j + 1);
        const double r = std::sqrt(-2.0 * std::log(1.0 - u));
        const double t = 2.0 * std::numbers::pi * u2;
        const double z = (i % 2 == 0) ? r * std::cos(t) : r * std::sin(t);
        y[i] = float(double(mean) + double(stddev) * z);
    }
}

void dropout_mask(float* mask, int64_t n, float p, uint64_t seed, uint64_t offset) {
    CUDARTS_CHECK(n >= 0, "dropout_mask: n=" << n << " (p=" << p << ")");
    // p = 1 would scale the survivors by 1/0; DARTS never drops everything.
    CUDARTS_CHECK(p >= 0.f && p < 1.f, "dropout_mask: p=" << p << ", expected in [0, 1)");
    const float keep_scale = 1.f / (1.f - p);
    for (int64_t i = 0; i < n; ++i)
        mask[i] = philox::uniform(seed, offset, i) >= p ? keep_scale : 0.f;
}

}  // namespace cudarts::cpu
