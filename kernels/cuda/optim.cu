// Optimizer updates over flat parameter buffers on the GPU: the CUDA twins of
// kernels/cpu/optim.cpp (formulas in kernels/optim.h).
// sgd_step and adam_step: one thread per parameter in a grid-stride loop, each thread reading its
// parameter, gradient and state and writing parameter and state back: SGD moves 12 B per
// parameter without momentum and 20 B with it, Adam 28 B. A few flops per byte: bound by DRAM
// bandwidth, about 10 us for the 1.9 M weights of the DARTS search network on an H100.
// The arithmetic spells out every rounding (__fmul_rn, __fadd_rn, __fsub_rn, __fdiv_rn,
// __fsqrt_rn) in the CPU loop's order: nvcc would otherwise fuse a * b + c into one FMA and round
// once where the CPU rounds twice, and parameters then drift from the reference step by step.
// Adam's step size lr sqrt(1 - b2^t) / (1 - b1^t) is computed on the host in double exactly as
// cpu::adam_step does and passed as a float.
// sum_squares runs as ONE block of kReduceBlock threads, each adding x_i^2 for i = t, t + 1024, ...
// in order with kUnroll loads in flight, then cub::BlockReduce: deterministic, no atomics, no
// workspace. One SM reads everything, ~50 GB/s, about 150 us for 1.9 M gradients (v1); v2 runs the
// same sum on a cluster of 8 blocks, each summing one of 8 contiguous ranges, and rank 0 adds the
// 8 block totals in rank order (cluster_sum.h): 8 SMs read, still deterministic and without
// workspace. Float partials of n/8192 to n/1024 terms: error ~sqrt(n) ulp relative, against the
// CPU's double sum.
//   v1  grid-stride updates (the only version); single-block sum of squares
//   v2  sum of squares on one cluster, from n >= 8192 (one value per thread), the launcher's pick
//       there; needs sm_90
#include <algorithm>
#include <cmath>
#include <cub/block/block_reduce.cuh>  // deterministic block-wide tree reduction
#include <span>

#include "kernels/check.h"
#include "kernels/cuda/cluster_sum.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/optim.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kReduceBlock = 1024;  // the single reducing block: the most threads a block holds
constexpr int kUnroll = 8;          // loads in flight per thread in the single-block sum
constexpr int kMaxGrid = 4096;      // grid-stride cap: enough blocks to fill 132 SMs several times

int grid_for(int64_t n) { return std::min(blocks_for(n, kBlock), kMaxGrid); }

// d = g + wd w; then w -= lr d (momentum 0, buf unused) or buf = d on the first step, else
// buf = momentum buf + d, and w -= lr buf.
__global__ void __launch_bounds__(kBlock)
    sgd_step_kernel_v1(float* __restrict__ w, float* __restrict__ buf, const float* __restrict__ g,
                       int64_t n, SgdOptions o, bool first_step) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
        const float d = __fadd_rn(g[i], __fmul_rn(o.weight_decay, w[i]));
        if (o.momentum == 0.f) {
            w[i] = __fsub_rn(w[i], __fmul_rn(o.lr, d));
        } else {
            const float b = first_step ? d : __fadd_rn(__fmul_rn(o.momentum, buf[i]), d);
            buf[i] = b;
            w[i] = __fsub_rn(w[i], __fmul_rn(o.lr, b));
        }
    }
}

// g' = g + wd theta; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g' g';
// theta -= step_size (m / (sqrt(v) + eps)), each product and sum rounded as in the CPU loop.
__global__ void __launch_bounds__(kBlock)
    adam_step_kernel_v1(float* __restrict__ theta, float* __restrict__ m, float* __restrict__ v,
                        const float* __restrict__ g, int64_t n, AdamOptions o, float step_size) {
    const float one_minus_b1 = __fsub_rn(1.f, o.beta1);
    const float one_minus_b2 = __fsub_rn(1.f, o.beta2);
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
        const float th = theta[i];
        const float gi = __fadd_rn(g[i], __fmul_rn(o.weight_decay, th));
        const float mi = __fadd_rn(__fmul_rn(o.beta1, m[i]), __fmul_rn(one_minus_b1, gi));
        const float vi =
            __fadd_rn(__fmul_rn(o.beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_b2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        const float denom = __fadd_rn(__fsqrt_rn(vi), o.eps);
        theta[i] = __fsub_rn(th, __fmul_rn(step_size, __fdiv_rn(mi, denom)));
    }
}

// out[0] = sum x_i^2; one block, so n = 0 still writes 0.
__global__ void __launch_bounds__(kReduceBlock)
    sum_squares_kernel_v1(float* __restrict__ out, const float* __restrict__ x, int64_t n) {
    const float partial =
        block_stride_partial<kReduceBlock, kUnroll>(n, [&](int64_t i) { return x[i] * x[i]; });
    using Reduce = cub::BlockReduce<float, kReduceBlock>;
    __shared__ typename Reduce::TempStorage temp;
    const float total = Reduce(temp).Sum(partial);  // valid in thread 0 only
    if (threadIdx.x == 0) out[0] = total;
}

// out[0] = sum x_i^2 on one cluster (launched with n >= kClusterSize * kReduceBlock).
__global__ void __cluster_dims__(kClusterSize, 1, 1) __launch_bounds__(kReduceBlock)
    sum_squares_kernel_v2(float* __restrict__ out, const float* __restrict__ x, int64_t n) {
    const float total =
        cluster_sum<kReduceBlock, kUnroll>(n, [&](int64_t i) { return x[i] * x[i]; });
    if (blockIdx.x == 0 && threadIdx.x == 0) out[0] = total;
}

bool supports_any(int64_t) { return true; }
bool supports_v2(int64_t n) { return fills_cluster(n, kReduceBlock); }

template <int kVersion>
void sum_squares_version(float* out, const float* x, int64_t n, Stream st) {
    CUDARTS_CHECK(n >= 0, "sum_squares: n=" << n);
    if constexpr (kVersion == 1) {
        // No early return: an empty sum still writes 0.
        sum_squares_kernel_v1<<<1, kReduceBlock, 0, st>>>(out, x, n);
    } else {
        check_fills_cluster(n, kReduceBlock, "sum_squares");
        sum_squares_kernel_v2<<<kClusterSize, kReduceBlock, 0, st>>>(out, x, n);
    }
    CUDARTS_CHECK_LAUNCH();
}

const SumSquaresVersion kSumSquaresVersions[] = {
    {"v1", supports_any, sum_squares_version<1>},
    {"v2", supports_v2, sum_squares_version<2>},
};

}  // namespace

void sgd_step(float* w, float* buf, const float* g, int64_t n, const SgdOptions& o, bool first_step,
              Stream st) {
    CUDARTS_CHECK(n >= 0, "sgd_step: n=" << n);
    CUDARTS_CHECK(o.momentum == 0.f || buf != nullptr,
                  "sgd_step: momentum=" << o.momentum << " needs a momentum buffer");
    if (n == 0) return;
    sgd_step_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(w, buf, g, n, o, first_step);
    CUDARTS_CHECK_LAUNCH();
}

void adam_step(float* theta, float* m, float* v, const float* g, int64_t n, const AdamOptions& o,
               int64_t t, Stream st) {
    CUDARTS_CHECK(n >= 0, "adam_step: n=" << n);
    CUDARTS_CHECK(t >= 1, "adam_step: step t=" << t << ", expected t >= 1 (1 on the first step)");
    if (n == 0) return;
    // Exactly cpu::adam_step's host arithmetic, so both backends step by the same float.
    const double bias1 = 1.0 - std::pow(double(o.beta1), double(t));
    const double bias2 = 1.0 - std::pow(double(o.beta2), double(t));
    const float step_size = float(double(o.lr) * std::sqrt(bias2) / bias1);
    adam_step_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(theta, m, v, g, n, o, step_size);
    CUDARTS_CHECK_LAUNCH();
}

void sum_squares(float* out, const float* x, int64_t n, Stream st) {
    preferred_version(kSumSquaresVersions, n).launch(out, x, n, st);
}

std::span<const SumSquaresVersion> sum_squares_versions() { return kSumSquaresVersions; }

}  // namespace cudarts::cuda
