// Batch normalization on the GPU, NCHW fp32 viewed as (n, c, hw): the CUDA twins of
// kernels/cpu/batchnorm.cpp, PyTorch BatchNorm semantics (biased variance to normalise, unbiased
// into the running variance; gamma/beta null is affine=False).
// Per-channel statistics: one block per channel reduces its m = n*hw values, two passes as on the
// CPU (the mean, then the sum of squared deviations from it), so a channel whose mean dwarfs its
// spread keeps its variance. Each thread adds m/kReduceBlock values with a compensated (Kahan)
// float sum, so its rounding error does not grow with m (65536 values per channel at N=64,
// 32x32); cub::BlockReduce then adds the per-thread sums in a fixed tree: deterministic, no
// atomics. Thread 0 writes save_mean, save_invstd and the running statistics.
// Forward apply is elementwise, y = (x - mean) * invstd * gamma + beta, with the batch's
// statistics in training and the running ones in eval.
// Backward (training) needs sum(dy) and sum(dy * xhat) per channel before any dx: the same
// one-block-per-channel kernel reduces them, writes dgamma/dbeta once with write_grad, and then
// makes a second pass over its channel for dx, so no scratch buffer carries the sums between
// kernels. Backward (eval) is the affine map's: an elementwise dx kernel, and the reduction kernel
// only when dgamma or dbeta is wanted.
// Traffic: fwd train reads x twice in the stats kernel (the second pass mostly from L2: 4 MB per
// DARTS activation) and once more in apply, writing y once; bwd train reads x and dy twice and
// writes dx once. Every pass is bandwidth-bound; the per-channel kernels run only c blocks (16 to
// 64 in DARTS) on the H100's 132 SMs, which bounds them below the device's bandwidth; a v2 would
// split each channel over several blocks with a workspace for the partial sums.
//   v1  one block per channel for the reductions, one thread per element for apply and eval dx
#include <climits>
#include <cub/block/block_reduce.cuh>  // deterministic block-wide sums

#include "kernels/batchnorm.h"
#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"

namespace cudarts::cuda {

namespace {

constexpr int kReduceBlock = 512;  // threads per channel in the per-channel reductions
constexpr int kBlock = 256;        // elementwise kernels

using BlockSum = cub::BlockReduce<float, kReduceBlock>;

// A running float sum with Kahan's compensation: `carry` holds what the last addition rounded
// away, fed back into the next one. Without fast-math nvcc keeps these additions as written.
struct CompensatedSum {
    float sum = 0.f, carry = 0.f;
    __device__ void add(float v) {
        const float y = v - carry;
        const float t = sum + y;
        carry = (t - sum) - y;
        sum = t;
    }
    __device__ float value() const { return sum - carry; }
};

// The block's total of v, returned to every thread. The first barrier publishes thread 0's
// result; the second keeps the next call from overwriting `tmp` or `total` before all have read.
__device__ float block_sum(float v, BlockSum::TempStorage& tmp, float& total) {
    const float t = BlockSum(tmp).Sum(v);
    if (threadIdx.x == 0) total = t;
    __syncthreads();
    const float r = total;
    __syncthreads();
    return r;
}

// Offset of value e in [0, n*hw) of channel ch: sample e / hw, position e % hw.
__device__ int64_t offset_in_channel(const BatchNormShape& s, int ch, int e) {
    const int i = e / s.hw;
    const int j = e - i * s.hw;
    return (int64_t(i) * s.c + ch) * s.hw + j;
}

// One block per channel (blockIdx.x): mean, then the sum of squared deviations; thread 0 writes
// the saved and running statistics.
__global__ void __launch_bounds__(kReduceBlock)
    batch_norm_stats_kernel_v1(float* __restrict__ save_mean, float* __restrict__ save_invstd,
                               float* __restrict__ running_mean, float* __restrict__ running_var,
                               const float* __restrict__ x, BatchNormShape s, float momentum,
                               float eps) {
    __shared__ BlockSum::TempStorage tmp;
    __shared__ float total;
    const int ch = int(blockIdx.x);
    const int m = s.n * s.hw;
    CompensatedSum sum;
    for (int e = int(threadIdx.x); e < m; e += kReduceBlock)
        sum.add(x[offset_in_channel(s, ch, e)]);
    const float mean = block_sum(sum.value(), tmp, total) / float(m);
    CompensatedSum sq;
    for (int e = int(threadIdx.x); e < m; e += kReduceBlock) {
        const float d = x[offset_in_channel(s, ch, e)] - mean;
        sq.add(d * d);
    }
    const float sq_total = block_sum(sq.value(), tmp, total);
    if (threadIdx.x != 0) return;
    save_mean[ch] = mean;
    save_invstd[ch] = 1.f / sqrtf(sq_total / float(m) + eps);
    if (running_mean) running_mean[ch] = (1.f - momentum) * running_mean[ch] + momentum * mean;
    if (running_var)
        running_var[ch] = (1.f - momentum) * running_var[ch] + momentum * sq_total / float(m - 1);
}

// One thread per element: y = (x - mean) * invstd * gamma + beta. `stat` is the channel's invstd
// (training: save_invstd) or, with stat_is_var, its running variance (eval).
__global__ void __launch_bounds__(kBlock)
    batch_norm_apply_kernel_v1(float* __restrict__ y, const float* __restrict__ x,
                               const float* __restrict__ gamma, const float* __restrict__ beta,
                               const float* __restrict__ mean, const float* __restrict__ stat,
                               bool stat_is_var, float eps, int c, int hw, int64_t elems) {
    const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (k >= elems) return;
    const int ch = int((k / hw) % c);
    const float invstd = stat_is_var ? 1.f / sqrtf(stat[ch] + eps) : stat[ch];
    const float g = gamma ? gamma[ch] : 1.f;
    const float b = beta ? beta[ch] : 0.f;
    y[k] = (x[k] - mean[ch]) * invstd * g + b;
}

struct GradSums {
    float dy, dy_xhat;  // sum(dy) and sum(dy * xhat) over the channel
};

// The block's sum(dy) and sum(dy * (x - mean) * invstd) over channel ch, returned to every thread.
__device__ GradSums channel_grad_sums(const float* __restrict__ dy, const float* __restrict__ x,
                                      float mean, float invstd, const BatchNormShape& s, int ch,
                                      BlockSum::TempStorage& tmp, float& total) {
    const int m = s.n * s.hw;
    CompensatedSum sum_dy, sum_dy_xhat;
    for (int e = int(threadIdx.x); e < m; e += kReduceBlock) {
        const int64_t k = offset_in_channel(s, ch, e);
        const float g = dy[k];
        sum_dy.add(g);
        sum_dy_xhat.add(g * ((x[k] - mean) * invstd));
    }
    const float a = block_sum(sum_dy.value(), tmp, total);
    const float b = block_sum(sum_dy_xhat.value(), tmp, total);
    return {a, b};
}

// One block per channel: the two sums, dgamma and dbeta written once by thread 0, then a second
// pass writing dx = gamma * invstd * (dy - sum(dy)/m - xhat * sum(dy*xhat)/m) when dx is wanted.
__global__ void __launch_bounds__(kReduceBlock)
    batch_norm_bwd_train_kernel_v1(float* __restrict__ dx, float* __restrict__ dgamma,
                                   float* __restrict__ dbeta, const float* __restrict__ dy,
                                   const float* __restrict__ x, const float* __restrict__ gamma,
                                   const float* __restrict__ save_mean,
                                   const float* __restrict__ save_invstd, BatchNormShape s,
                                   GradMode mode) {
    __shared__ BlockSum::TempStorage tmp;
    __shared__ float total;
    const int ch = int(blockIdx.x);
    const int m = s.n * s.hw;
    const float mean = save_mean[ch], invstd = save_invstd[ch];
    const GradSums sums = channel_grad_sums(dy, x, mean, invstd, s, ch, tmp, total);
    if (threadIdx.x == 0) {
        if (dgamma) write_grad(dgamma[ch], sums.dy_xhat, mode);
        if (dbeta) write_grad(dbeta[ch], sums.dy, mode);
    }
    if (!dx) return;
    const float scale = (gamma ? gamma[ch] : 1.f) * invstd;
    const float mean_dy = sums.dy / float(m), mean_dy_xhat = sums.dy_xhat / float(m);
    for (int e = int(threadIdx.x); e < m; e += kReduceBlock) {
        const int64_t k = offset_in_channel(s, ch, e);
        const float xhat = (x[k] - mean) * invstd;
        write_grad(dx[k], scale * (dy[k] - mean_dy - xhat * mean_dy_xhat), mode);
    }
}

// One block per channel: dgamma = sum(dy * xhat) and dbeta = sum(dy) with the running statistics.
__global__ void __launch_bounds__(kReduceBlock)
    batch_norm_bwd_eval_reduce_kernel_v1(float* __restrict__ dgamma, float* __restrict__ dbeta,
                                         const float* __restrict__ dy, const float* __restrict__ x,
                                         const float* __restrict__ running_mean,
                                         const float* __restrict__ running_var, BatchNormShape s,
                                         float eps, GradMode mode) {
    __shared__ BlockSum::TempStorage tmp;
    __shared__ float total;
    const int ch = int(blockIdx.x);
    const float invstd = 1.f / sqrtf(running_var[ch] + eps);
    const GradSums sums = channel_grad_sums(dy, x, running_mean[ch], invstd, s, ch, tmp, total);
    if (threadIdx.x != 0) return;
    if (dgamma) write_grad(dgamma[ch], sums.dy_xhat, mode);
    if (dbeta) write_grad(dbeta[ch], sums.dy, mode);
}

// One thread per element: dx = gamma * invstd_running * dy.
__global__ void __launch_bounds__(kBlock)
    batch_norm_bwd_eval_dx_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy,
                                     const float* __restrict__ gamma,
                                     const float* __restrict__ running_var, float eps, int c,
                                     int hw, GradMode mode, int64_t elems) {
    const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (k >= elems) return;
    const int ch = int((k / hw) % c);
    const float scale = (gamma ? gamma[ch] : 1.f) * (1.f / sqrtf(running_var[ch] + eps));
    write_grad(dx[k], scale * dy[k], mode);
}

// The per-channel kernels index a channel's values with int.
void check_channel_fits_int(const BatchNormShape& s) {
    CUDARTS_CHECK(s.per_channel() <= INT_MAX,
                  "batch_norm (cuda): n*hw must be at most INT_MAX in " << s);
}

}  // namespace

void batch_norm_fwd_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                          float* running_var, const float* x, const float* gamma, const float* beta,
                          const BatchNormShape& s, float momentum, float eps, Stream st) {
    if (!s.validate_train(momentum, eps)) return;
    check_channel_fits_int(s);
    batch_norm_stats_kernel_v1<<<s.c, kReduceBlock, 0, st>>>(save_mean, save_invstd, running_mean,
                                                             running_var, x, s, momentum, eps);
    CUDARTS_CHECK_LAUNCH();
    batch_norm_apply_kernel_v1<<<blocks_for(s.elems(), kBlock), kBlock, 0, st>>>(
        y, x, gamma, beta, save_mean, save_invstd, /*stat_is_var=*/false, eps, s.c, s.hw,
        s.elems());
    CUDARTS_CHECK_LAUNCH();
}

void batch_norm_fwd_eval(float* y, const float* x, const float* gamma, const float* beta,
                         const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, Stream st) {
    s.validate_eval(eps);
    if (s.elems() == 0) return;
    batch_norm_apply_kernel_v1<<<blocks_for(s.elems(), kBlock), kBlock, 0, st>>>(
        y, x, gamma, beta, running_mean, running_var, /*stat_is_var=*/true, eps, s.c, s.hw,
        s.elems());
    CUDARTS_CHECK_LAUNCH();
}

void batch_norm_bwd_train(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                          const float* gamma, const float* save_mean, const float* save_invstd,
                          const BatchNormShape& s, GradMode mode, Stream st) {
    s.validate();
    if (s.c == 0) return;
    CUDARTS_CHECK(s.per_channel() >= 2,
                  "batch_norm_bwd_train: n*hw must be >= 2 in training in " << s);
    check_channel_fits_int(s);
    if (!dx && !dgamma && !dbeta) return;
    batch_norm_bwd_train_kernel_v1<<<s.c, kReduceBlock, 0, st>>>(dx, dgamma, dbeta, dy, x, gamma,
                                                                 save_mean, save_invstd, s, mode);
    CUDARTS_CHECK_LAUNCH();
}

void batch_norm_bwd_eval(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, GradMode mode, Stream st) {
    s.validate_eval(eps);
    if (s.c == 0) return;
    check_channel_fits_int(s);
    // With n = 0 the sums are empty and overwrite still writes dgamma = dbeta = 0, as the CPU.
    if (dgamma || dbeta) {
        batch_norm_bwd_eval_reduce_kernel_v1<<<s.c, kReduceBlock, 0, st>>>(
            dgamma, dbeta, dy, x, running_mean, running_var, s, eps, mode);
        CUDARTS_CHECK_LAUNCH();
    }
    if (dx && s.elems() > 0) {
        batch_norm_bwd_eval_dx_kernel_v1<<<blocks_for(s.elems(), kBlock), kBlock, 0, st>>>(
            dx, dy, gamma, running_var, eps, s.c, s.hw, mode, s.elems());
        CUDARTS_CHECK_LAUNCH();
    }
}

}  // namespace cudarts::cuda
