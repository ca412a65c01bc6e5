// Random fills on the GPU from the Philox stream of kernels/philox.h: the CUDA twins of
// kernels/cpu/rng.cpp, and bit-identical to them. Each thread computes one Philox block (elements
// 4b .. 4b+3: the four lanes of one 128-bit counter) in a grid-stride loop, so every random word is
// generated once, the grid size does not change the numbers, and odd n just stops early in the
// last block. Normals pair (4b, 4b+1) and (4b+2, 4b+3), so a Box-Muller pair never straddles two
// threads.
// Matching the CPU to the bit needs the same rounding steps, so the arithmetic spells them out
// (__fmul_rn, __fadd_rn, __dmul_rn, __dadd_rn): nvcc would otherwise contract a * b + c into one
// FMA and round once where the CPU rounds twice. The normal's log, sqrt and sin/cos run in double
// as on the CPU; there the device and host libm may differ in the last bit of a double, which is
// why normals are compared to within 2 float ulp rather than bitwise (kernels/philox.h).
// Traffic: 4 B written per output and nothing read. Uniform and mask spend about 20 integer ops
// per output on Philox's 10 rounds, on an H100 the same order as the store time, so they sit near
// whichever bound is lower; normal adds FP64 log, sqrt and sincos per pair and is compute-bound.
// Not yet measured: no benchmark row exists for these fills.
//   v1  one thread per Philox block, scalar stores, grid-stride (the only version)
#include <algorithm>
#include <numbers>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/philox.h"
#include "kernels/rng.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
// Grid-stride loops need no more blocks than keep every SM busy: 132 SMs on an H100 times 16
// resident blocks of 256 threads is under 4096; more blocks would only add scheduling work.
constexpr int kMaxGrid = 4096;
constexpr double kTwoPi = 2.0 * std::numbers::pi;  // exact doubling, as 2.0 * pi on the CPU

int grid_for(int64_t n) {
    const int64_t philox_blocks = (n + 3) / 4;
    return std::min(blocks_for(philox_blocks, kBlock), kMaxGrid);
}

// f(b, r) for every 4-value Philox block b of n values (r: its four 32-bit numbers), in a
// grid-stride loop over the blocks.
template <class F>
__device__ void for_each_block(int64_t n, uint64_t seed, uint64_t offset, const F& f) {
    const int64_t blocks = (n + 3) / 4;
    for (int64_t b = first_index(); b < blocks; b += grid_stride())
        f(b, philox::block(seed, offset, uint64_t(b)));
}

// f(i, u) for every value i < n, u its uniform in [0, 1): lane k of block b is value 4 b + k.
template <class F>
__device__ void for_each_uniform(int64_t n, uint64_t seed, uint64_t offset, const F& f) {
    for_each_block(n, seed, offset, [&](int64_t b, const philox::U32x4& r) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const int64_t i = 4 * b + k;
            if (i < n) f(i, philox::to_unit(r.v[k]));
        }
    });
}

// y_i = lo + span * u_i with span = hi - lo rounded on the host, as float arithmetic on the CPU.
__global__ void rng_uniform_kernel_v1(float* __restrict__ y, int64_t n, float lo, float span,
                                      uint64_t seed, uint64_t offset) {
    for_each_uniform(n, seed, offset,
                     [&](int64_t i, float u) { y[i] = __fadd_rn(lo, __fmul_rn(span, u)); });
}

// Box-Muller on lanes (0, 1) and (2, 3); mean + stddev * z in double, rounded once to float.
__global__ void rng_normal_kernel_v1(float* __restrict__ y, int64_t n, double mean, double stddev,
                                     uint64_t seed, uint64_t offset) {
    for_each_block(n, seed, offset, [&](int64_t b, const philox::U32x4& r) {
#pragma unroll
        for (int pair = 0; pair < 2; ++pair) {
            const int64_t i = 4 * b + 2 * pair;
            if (i >= n) break;
            const double u = philox::to_unit(r.v[2 * pair]);
            const double u2 = philox::to_unit(r.v[2 * pair + 1]);
            const double radius = sqrt(-2.0 * log(1.0 - u));
            const double t = kTwoPi * u2;
            double s, c;
            sincos(t, &s, &c);
            y[i] = float(__dadd_rn(mean, __dmul_rn(stddev, __dmul_rn(radius, c))));
            if (i + 1 < n)
                y[i + 1] = float(__dadd_rn(mean, __dmul_rn(stddev, __dmul_rn(radius, s))));
        }
    });
}

// mask_i = keep_scale when u_i >= p, else 0; keep_scale = 1 / (1 - p) computed once on the host.
__global__ void dropout_mask_kernel_v1(float* __restrict__ mask, int64_t n, float p,
                                       float keep_scale, uint64_t seed, uint64_t offset) {
    for_each_uniform(n, seed, offset,
                     [&](int64_t i, float u) { mask[i] = u >= p ? keep_scale : 0.f; });
}

}  // namespace

void rng_uniform(float* y, int64_t n, float lo, float hi, uint64_t seed, uint64_t offset,
                 Stream st) {
    CUDARTS_CHECK(n >= 0, "rng_uniform: n=" << n);
    if (n == 0) return;
    rng_uniform_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(y, n, lo, hi - lo, seed, offset);
    CUDARTS_CHECK_LAUNCH();
}

void rng_normal(float* y, int64_t n, float mean, float stddev, uint64_t seed, uint64_t offset,
                Stream st) {
    CUDARTS_CHECK(n >= 0, "rng_normal: n=" << n);
    if (n == 0) return;
    rng_normal_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(y, n, mean, stddev, seed, offset);
    CUDARTS_CHECK_LAUNCH();
}

void dropout_mask(float* mask, int64_t n, float p, uint64_t seed, uint64_t offset, Stream st) {
    CUDARTS_CHECK(n >= 0, "dropout_mask: n=" << n << " (p=" << p << ")");
    CUDARTS_CHECK(p >= 0.f && p < 1.f, "dropout_mask: p=" << p << ", expected in [0, 1)");
    if (n == 0) return;
    const float keep_scale = 1.f / (1.f - p);
    dropout_mask_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(mask, n, p, keep_scale, seed, offset);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace cudarts::cuda
