// Full reductions on the GPU, the CUDA twins of kernels/cpu/reduce.cpp (kernels/reduce.h).
// sum_fwd runs as ONE block of kReduceBlock threads: thread t adds x[t], x[t + 1024], ... in
// float, in that order (a warp reads 128 contiguous bytes per step), then cub::BlockReduce
// combines the 1024 partial sums in a fixed tree. No atomics and no workspace, so the result
// depends only on n, never on scheduling: a rerun gives the same bits. The price is that one SM
// does all the reading, and one SM reaches DRAM bandwidth only with many loads in flight (Little's
// law: ~100 GB/s x ~0.7 us latency = 70 KB), so each thread issues kUnroll loads before adding
// any: 1024 x 8 x 4 B = 32 KB in flight, roughly 50 GB/s, about 80 us for the 1 M elements of a
// DARTS feature map. Losses and norms are summed a few times per step, so this is accepted; a
// two-pass grid version with a workspace of per-block partials is the next step if a benchmark
// row shows it matters.
// Accuracy: 1024 independent float partials of n/1024 terms each, then a tree: the error grows
// like sqrt(n) ulps, inside the tol_for_sum(n) the tests use against the CPU's double sum.
// sum_bwd broadcasts dy[0] * scale, read from device memory by every thread (one cached word):
// 4 B written per element (8 B accumulating), bandwidth-bound.
//   v1  sum_fwd: one block, unrolled block-stride loop, CUB tree; sum_bwd: grid-stride
//   v2  sum_fwd on one cluster of kClusterSize = 8 blocks (cluster_sum.h): rank r sums the r-th of
//       8 contiguous ranges as v1 sums the whole, and rank 0 adds the 8 block totals in rank order
//       through distributed shared memory. 8 SMs read instead of one, still deterministic and
//       without workspace. It applies from one value per thread of the cluster (n >= 8192), the
//       launcher's pick there. Needs sm_90. The float error is v1's (sqrt(n) ulps).
#include <algorithm>
#include <cub/block/block_reduce.cuh>  // deterministic block-wide tree reduction
#include <span>

#include "kernels/check.h"
#include "kernels/cuda/cluster_sum.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/reduce.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;         // elementwise backward
constexpr int kReduceBlock = 1024;  // the single reducing block: the most threads a block holds
constexpr int kMaxGrid = 4096;      // grid-stride cap: enough blocks to fill 132 SMs several times
constexpr int kUnroll = 8;          // loads in flight per thread in the single-block sum

int grid_for(int64_t n) { return std::min(blocks_for(n, kBlock), kMaxGrid); }

// y[0] = scale * sum(x); launched as a single block, so n = 0 still writes 0.
__global__ void __launch_bounds__(kReduceBlock)
    sum_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, int64_t n, float scale) {
    // Thread t sums x[t + j * kReduceBlock] for j = 0, 1, 2, ... in order (thread_index.h).
    const float partial =
        block_stride_partial<kReduceBlock, kUnroll>(n, [&](int64_t i) { return x[i]; });
    using Reduce = cub::BlockReduce<float, kReduceBlock>;
    __shared__ typename Reduce::TempStorage temp;
    const float total = Reduce(temp).Sum(partial);  // valid in thread 0 only
    if (threadIdx.x == 0) y[0] = total * scale;
}

// y[0] = scale * sum(x) on one cluster (launched with n >= kClusterSize * kReduceBlock).
__global__ void __cluster_dims__(kClusterSize, 1, 1) __launch_bounds__(kReduceBlock)
    sum_fwd_kernel_v2(float* __restrict__ y, const float* __restrict__ x, int64_t n, float scale) {
    const float total =
        cluster_sum<kReduceBlock, kUnroll>(n, [&](int64_t i) { return x[i]; });  // rank 0, t 0
    if (blockIdx.x == 0 && threadIdx.x == 0) y[0] = total * scale;
}

// dx_i = dy[0] * scale for every i.
__global__ void __launch_bounds__(kBlock)
    sum_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy, int64_t n, float scale,
                      GradMode mode) {
    const float g = dy[0] * scale;
    for (int64_t i = first_index(); i < n; i += grid_stride()) write_grad(dx[i], g, mode);
}

bool supports_any(int64_t) { return true; }
bool supports_v2(int64_t n) { return fills_cluster(n, kReduceBlock); }

template <int kVersion>
void sum_fwd_version(float* y, const float* x, int64_t n, float scale, Stream st) {
    CUDARTS_CHECK(n >= 0, "sum_fwd: n=" << n);
    if constexpr (kVersion == 1) {
        // No early return: an empty sum still writes y = 0, as the CPU does.
        sum_fwd_kernel_v1<<<1, kReduceBlock, 0, st>>>(y, x, n, scale);
    } else {
        check_fills_cluster(n, kReduceBlock, "sum_fwd");
        sum_fwd_kernel_v2<<<kClusterSize, kReduceBlock, 0, st>>>(y, x, n, scale);
    }
    CUDARTS_CHECK_LAUNCH();
}

const SumFwdVersion kSumFwdVersions[] = {
    {"v1", supports_any, sum_fwd_version<1>},
    {"v2", supports_v2, sum_fwd_version<2>},
};

}  // namespace

void sum_fwd(float* y, const float* x, int64_t n, float scale, Stream st) {
    preferred_version(kSumFwdVersions, n).launch(y, x, n, scale, st);
}

std::span<const SumFwdVersion> sum_fwd_versions() { return kSumFwdVersions; }

void sum_bwd(float* dx, const float* dy, int64_t n, float scale, GradMode mode, Stream st) {
    CUDARTS_CHECK(n >= 0, "sum_bwd: n=" << n);
    if (n == 0) return;
    sum_bwd_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(dx, dy, n, scale, mode);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace cudarts::cuda
