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
// writes dx once. Every pass is bandwidth-bound. v1 runs its reductions on only c blocks (16 to 64
// in DARTS) of the H100's 132 SMs, which bounds them well below the device's bandwidth; v2 spreads
// each channel over a thread-block cluster instead, with no workspace (kernels/ never allocates).
//   v1  one block per channel for the reductions, one thread per element for apply and eval dx
//   v2  the same reductions on one cluster of kCluster = 8 blocks per channel (8c blocks: 128 at
//       C=16). Rank r reduces the r-th of 8 contiguous ranges of the channel's values; each rank
//       writes its block sum into its shared memory, and after cluster.sync every rank adds the 8
//       in rank order through distributed shared memory, so all ranks hold the same bits of the
//       mean (needed for the second pass) and of the gradient sums (needed for dx). Rank 0 writes
//       the per-channel results. Deterministic, no atomics. It applies when a channel has at
//       least one value per thread of the cluster (n*hw >= 2048), the launchers' pick there; the
//       elementwise kernels are v1's. Needs sm_90 (clusters).
// Groups: every training kernel takes a table of up to kBatchNormGroupChunk items (y, x, the
// statistics; or dx, dy, ...) and blockIdx.y picks its item, so the search cell's norms of one
// stage cost one statistics and one apply launch in forward and one in backward, and each item
// gets the bits a launch of its own would give (the same blocks reduce the same values). A single
// batch norm is a group of one.
#include <climits>
#include <cub/block/block_reduce.cuh>  // deterministic block-wide sums
#include <span>

#include "kernels/batchnorm.h"
#include "kernels/check.h"
#include "kernels/cuda/cluster_sum.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/item_table.h"

namespace cudarts::cuda {

namespace {

constexpr int kReduceBlock = 512;       // v1: threads per channel in the per-channel reductions
constexpr int kBlock = 256;             // elementwise kernels
constexpr int kCluster = kClusterSize;  // v2: blocks per channel (cluster_sum.h)
constexpr int kClusterBlock = 256;      // v2: threads per block

using BlockSum = cub::BlockReduce<float, kReduceBlock>;
using ClusterBlockSum = cub::BlockReduce<float, kClusterBlock>;

// A group's items for one launch (kernels/cuda/item_table.h); blockIdx.y picks the item.
using TrainTable = ItemTable<BatchNormTrainItem, kBatchNormGroupChunk>;
using GradTable = ItemTable<BatchNormGradItem, kBatchNormGroupChunk>;

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

// Channel ch's saved and running statistics from its mean and its sum of squared deviations
// over m values.
__device__ void write_stats(float* __restrict__ save_mean, float* __restrict__ save_invstd,
                            float* __restrict__ running_mean, float* __restrict__ running_var,
                            int ch, float mean, float sq_total, int m, float momentum, float eps) {
    save_mean[ch] = mean;
    save_invstd[ch] = 1.f / sqrtf(sq_total / float(m) + eps);
    if (running_mean) running_mean[ch] = (1.f - momentum) * running_mean[ch] + momentum * mean;
    if (running_var)
        running_var[ch] = (1.f - momentum) * running_var[ch] + momentum * sq_total / float(m - 1);
}

// One block per channel (blockIdx.x) of item blockIdx.y: mean, then the sum of squared
// deviations; thread 0 writes the saved and running statistics.
__global__ void __launch_bounds__(kReduceBlock)
    batch_norm_stats_kernel_v1(const __grid_constant__ TrainTable t, BatchNormShape s,
                               float momentum, float eps) {
    __shared__ BlockSum::TempStorage tmp;
    __shared__ float total;
    const BatchNormTrainItem& it = t.item[blockIdx.y];
    const float* __restrict__ x = it.x;
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
    if (threadIdx.x == 0)
        write_stats(it.save_mean, it.save_invstd, it.running_mean, it.running_var, ch, mean,
                    sq_total, m, momentum, eps);
}

// y[k] = (x[k] - mean) * invstd * gamma + beta for element k of channel ch.
__device__ void apply_at(float* __restrict__ y, const float* __restrict__ x,
                         const float* __restrict__ gamma, const float* __restrict__ beta, int ch,
                         float mean, float invstd, int64_t k) {
    const float g = gamma ? gamma[ch] : 1.f;
    const float b = beta ? beta[ch] : 0.f;
    y[k] = (x[k] - mean) * invstd * g + b;
}

// Eval, one thread per element, with the running statistics.
__global__ void __launch_bounds__(kBlock)
    batch_norm_apply_eval_kernel_v1(float* __restrict__ y, const float* __restrict__ x,
                                    const float* __restrict__ gamma, const float* __restrict__ beta,
                                    const float* __restrict__ running_mean,
                                    const float* __restrict__ running_var, float eps, int c, int hw,
                                    int64_t elems) {
    const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (k >= elems) return;
    const int ch = int((k / hw) % c);
    apply_at(y, x, gamma, beta, ch, running_mean[ch], 1.f / sqrtf(running_var[ch] + eps), k);
}

// Training, one thread per element of item blockIdx.y, with its saved statistics; then the fused
// ReLU, written as the elementwise kernel's comparison (-0 and NaN map the same way).
__global__ void __launch_bounds__(kBlock)
    batch_norm_apply_train_kernel_v1(const __grid_constant__ TrainTable t, int c, int hw,
                                     int64_t elems) {
    const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (k >= elems) return;
    const BatchNormTrainItem& it = t.item[blockIdx.y];
    const int ch = int((k / hw) % c);
    apply_at(it.y, it.x, it.gamma, it.beta, ch, it.save_mean[ch], it.save_invstd[ch], k);
    if (it.relu) it.y[k] = it.y[k] > 0.f ? it.y[k] : 0.f;
}

// dy[k], or 0 where the forward's fused ReLU cut the output (relu_y: that output; null: none),
// as the ReLU's own backward gives it.
__device__ float masked_dy(const float* __restrict__ dy, const float* __restrict__ relu_y,
                           int64_t k) {
    const float g = dy[k];
    return relu_y && !(relu_y[k] > 0.f) ? 0.f : g;
}

struct GradSums {
    float dy, dy_xhat;  // sum(dy) and sum(dy * xhat) over the channel
};

// The block's sum(dy) and sum(dy * (x - mean) * invstd) over channel ch, returned to every thread.
__device__ GradSums channel_grad_sums(const float* __restrict__ dy,
                                      const float* __restrict__ relu_y, const float* __restrict__ x,
                                      float mean, float invstd, const BatchNormShape& s, int ch,
                                      BlockSum::TempStorage& tmp, float& total) {
    const int m = s.n * s.hw;
    CompensatedSum sum_dy, sum_dy_xhat;
    for (int e = int(threadIdx.x); e < m; e += kReduceBlock) {
        const int64_t k = offset_in_channel(s, ch, e);
        const float g = masked_dy(dy, relu_y, k);
        sum_dy.add(g);
        sum_dy_xhat.add(g * ((x[k] - mean) * invstd));
    }
    const float a = block_sum(sum_dy.value(), tmp, total);
    const float b = block_sum(sum_dy_xhat.value(), tmp, total);
    return {a, b};
}

// Item it's dx over the values e = begin + threadIdx.x, + step, ... < end of channel ch:
// gamma * invstd * (dy - sum(dy)/m - xhat * sum(dy*xhat)/m), dy masked by a fused ReLU. Nothing
// when it.dx is null.
__device__ void write_train_dx(const BatchNormGradItem& it, const BatchNormShape& s, int ch,
                               GradSums sums, int begin, int end, int step) {
    if (!it.dx) return;
    const int m = s.n * s.hw;
    const float mean = it.save_mean[ch], invstd = it.save_invstd[ch];
    const float scale = (it.gamma ? it.gamma[ch] : 1.f) * invstd;
    const float mean_dy = sums.dy / float(m), mean_dy_xhat = sums.dy_xhat / float(m);
    for (int e = begin + int(threadIdx.x); e < end; e += step) {
        const int64_t k = offset_in_channel(s, ch, e);
        const float xhat = (it.x[k] - mean) * invstd;
        write_grad(it.dx[k],
                   scale * (masked_dy(it.dy, it.relu_y, k) - mean_dy - xhat * mean_dy_xhat),
                   it.mode);
    }
}

// One block per channel of item blockIdx.y: the two sums, dgamma and dbeta written once by thread
// 0, then a second pass writing dx when it is wanted.
__global__ void __launch_bounds__(kReduceBlock)
    batch_norm_bwd_train_kernel_v1(const __grid_constant__ GradTable t, BatchNormShape s) {
    __shared__ BlockSum::TempStorage tmp;
    __shared__ float total;
    const BatchNormGradItem& it = t.item[blockIdx.y];
    const int ch = int(blockIdx.x);
    const GradSums sums = channel_grad_sums(it.dy, it.relu_y, it.x, it.save_mean[ch],
                                            it.save_invstd[ch], s, ch, tmp, total);
    if (threadIdx.x == 0) {
        if (it.dgamma) write_grad(it.dgamma[ch], sums.dy_xhat, it.mode);
        if (it.dbeta) write_grad(it.dbeta[ch], sums.dy, it.mode);
    }
    write_train_dx(it, s, ch, sums, 0, s.n * s.hw, kReduceBlock);
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
    const GradSums sums =
        channel_grad_sums(dy, nullptr, x, running_mean[ch], invstd, s, ch, tmp, total);
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

// ---- v2: one cluster of kCluster blocks per channel (blockIdx.x = ch * kCluster + rank) ----

// This thread's compensated sum of f(e) over e = begin + threadIdx.x, + kClusterBlock, ... < end.
// The loads are independent of the additions, so the unrolled loop keeps several in flight.
template <class F>
__device__ float range_partial(RankRange r, F f) {
    CompensatedSum sum;
#pragma unroll 4
    for (int e = int(r.begin) + int(threadIdx.x); e < int(r.end); e += kClusterBlock) sum.add(f(e));
    return sum.value();
}

// Item blockIdx.y.
__global__ void __cluster_dims__(kCluster, 1, 1) __launch_bounds__(kClusterBlock)
    batch_norm_stats_kernel_v2(const __grid_constant__ TrainTable t, BatchNormShape s,
                               float momentum, float eps) {
    const BatchNormTrainItem& it = t.item[blockIdx.y];
    const float* __restrict__ x = it.x;
    __shared__ ClusterBlockSum::TempStorage tmp;
    __shared__ float partial[2];  // this rank's sum, then its sum of squared deviations
    const cg::cluster_group cluster = cg::this_cluster();
    const int rank = int(cluster.block_rank());
    const int ch = int(blockIdx.x / kCluster);
    const int m = s.n * s.hw;
    const RankRange r = rank_range(m, rank);
    publish_block_sum<ClusterBlockSum>(
        range_partial(r, [&](int e) { return x[offset_in_channel(s, ch, e)]; }), tmp, partial, 0);
    cluster.sync();  // every rank's sum is written
    const float mean = cluster_total(cluster, partial, 0) / float(m);
    publish_block_sum<ClusterBlockSum>(range_partial(r,
                                                     [&](int e) {
                                                         const float d =
                                                             x[offset_in_channel(s, ch, e)] - mean;
                                                         return d * d;
                                                     }),
                                       tmp, partial, 1);
    cluster.sync();  // every rank's squared deviations are written
    if (rank == 0 && threadIdx.x == 0)
        write_stats(it.save_mean, it.save_invstd, it.running_mean, it.running_var, ch, mean,
                    cluster_total(cluster, partial, 1), m, momentum, eps);
    cluster.sync();  // no block exits while rank 0 may still read its shared memory
}

// Channel ch's sum(dy) and sum(dy * (x - mean) * invstd) over the cluster, returned to every
// thread of every rank (the same bits in each); rank 0's thread 0 writes dgamma and dbeta. Once
// it returns, no rank reads another's shared memory any more.
__device__ GradSums cluster_grad_sums(float* __restrict__ dgamma, float* __restrict__ dbeta,
                                      const float* __restrict__ dy,
                                      const float* __restrict__ relu_y, const float* __restrict__ x,
                                      float mean, float invstd, const BatchNormShape& s, int ch,
                                      GradMode mode) {
    __shared__ ClusterBlockSum::TempStorage tmp;
    __shared__ float partial[2];  // this rank's sum(dy) and sum(dy * xhat)
    const cg::cluster_group cluster = cg::this_cluster();
    const RankRange r = rank_range(s.n * s.hw, int(cluster.block_rank()));
    CompensatedSum sum_dy, sum_dy_xhat;
#pragma unroll 4
    for (int e = int(r.begin) + int(threadIdx.x); e < int(r.end); e += kClusterBlock) {
        const int64_t k = offset_in_channel(s, ch, e);
        const float g = masked_dy(dy, relu_y, k);
        sum_dy.add(g);
        sum_dy_xhat.add(g * ((x[k] - mean) * invstd));
    }
    publish_block_sum<ClusterBlockSum>(sum_dy.value(), tmp, partial, 0);
    publish_block_sum<ClusterBlockSum>(sum_dy_xhat.value(), tmp, partial, 1);
    cluster.sync();  // every rank's partials are written
    const GradSums sums{cluster_total(cluster, partial, 0), cluster_total(cluster, partial, 1)};
    if (cluster.block_rank() == 0 && threadIdx.x == 0) {
        if (dgamma) write_grad(dgamma[ch], sums.dy_xhat, mode);
        if (dbeta) write_grad(dbeta[ch], sums.dy, mode);
    }
    cluster.sync();  // every rank has read the partials: blocks may exit
    return sums;
}

// The cluster's sums for item blockIdx.y, then each rank writes dx over its own range of the
// channel.
__global__ void __cluster_dims__(kCluster, 1, 1) __launch_bounds__(kClusterBlock)
    batch_norm_bwd_train_kernel_v2(const __grid_constant__ GradTable t, BatchNormShape s) {
    const BatchNormGradItem& it = t.item[blockIdx.y];
    const int ch = int(blockIdx.x / kCluster);
    const GradSums sums = cluster_grad_sums(it.dgamma, it.dbeta, it.dy, it.relu_y, it.x,
                                            it.save_mean[ch], it.save_invstd[ch], s, ch, it.mode);
    const RankRange r = rank_range(s.n * s.hw, int(blockIdx.x % kCluster));
    write_train_dx(it, s, ch, sums, int(r.begin), int(r.end), kClusterBlock);
}

// dgamma and dbeta with the running statistics, over the cluster.
__global__ void __cluster_dims__(kCluster, 1, 1) __launch_bounds__(kClusterBlock)
    batch_norm_bwd_eval_reduce_kernel_v2(float* __restrict__ dgamma, float* __restrict__ dbeta,
                                         const float* __restrict__ dy, const float* __restrict__ x,
                                         const float* __restrict__ running_mean,
                                         const float* __restrict__ running_var, BatchNormShape s,
                                         float eps, GradMode mode) {
    const int ch = int(blockIdx.x / kCluster);
    const float invstd = 1.f / sqrtf(running_var[ch] + eps);
    cluster_grad_sums(dgamma, dbeta, dy, nullptr, x, running_mean[ch], invstd, s, ch, mode);
}

// The per-channel kernels index a channel's values with int.
void check_channel_fits_int(const BatchNormShape& s) {
    CUDARTS_CHECK(s.per_channel() <= INT_MAX,
                  "batch_norm (cuda): n*hw must be at most INT_MAX in " << s);
}

bool supports_any(const BatchNormShape&) { return true; }
// v2: at least one of a channel's values per thread of its cluster.
bool supports_v2(const BatchNormShape& s) { return fills_cluster(s.per_channel(), kClusterBlock); }

// Throws unless `version` supports s (checked after the shape's own validation).
void check_supported(const BatchNormShape& s, bool (*supports)(const BatchNormShape&),
                     const char* version) {
    CUDARTS_CHECK(supports(s), "batch_norm " << version << " (cuda): unsupported shape " << s);
}

// Per chunk of items: the statistics (one block or one cluster per channel and item), then y
// elementwise.
template <int kVersion>
void fwd_train_group(std::span<const BatchNormTrainItem> items, const BatchNormShape& s,
                     float momentum, float eps, Stream st) {
    if (!s.validate_train(momentum, eps)) return;
    check_channel_fits_int(s);
    if constexpr (kVersion == 2) check_supported(s, supports_v2, "v2");
    for_each_chunk<kBatchNormGroupChunk>(items, [&](const TrainTable& t, unsigned count) {
        if constexpr (kVersion == 1) {
            batch_norm_stats_kernel_v1<<<dim3(unsigned(s.c), count), kReduceBlock, 0, st>>>(
                t, s, momentum, eps);
        } else {
            batch_norm_stats_kernel_v2<<<dim3(unsigned(s.c * kCluster), count), kClusterBlock, 0,
                                         st>>>(t, s, momentum, eps);
        }
        CUDARTS_CHECK_LAUNCH();
        batch_norm_apply_train_kernel_v1<<<dim3(unsigned(blocks_for(s.elems(), kBlock)), count),
                                           kBlock, 0, st>>>(t, s.c, s.hw, s.elems());
        CUDARTS_CHECK_LAUNCH();
    });
}

// Per chunk of items that want some gradient: one block or one cluster per channel and item.
template <int kVersion>
void bwd_train_group(std::span<const BatchNormGradItem> items, const BatchNormShape& s, Stream st) {
    s.validate();
    if (s.c == 0) return;
    CUDARTS_CHECK(s.per_channel() >= 2,
                  "batch_norm_bwd_train: n*hw must be >= 2 in training in " << s);
    check_channel_fits_int(s);
    if constexpr (kVersion == 2) check_supported(s, supports_v2, "v2");
    const auto wanted = [](const BatchNormGradItem& it) { return it.dx || it.dgamma || it.dbeta; };
    for_each_chunk<kBatchNormGroupChunk>(items, wanted, [&](const GradTable& t, unsigned count) {
        if constexpr (kVersion == 1) {
            batch_norm_bwd_train_kernel_v1<<<dim3(unsigned(s.c), count), kReduceBlock, 0, st>>>(t,
                                                                                                s);
        } else {
            batch_norm_bwd_train_kernel_v2<<<dim3(unsigned(s.c * kCluster), count), kClusterBlock,
                                             0, st>>>(t, s);
        }
        CUDARTS_CHECK_LAUNCH();
    });
}

// The single training calls: groups of one.
template <int kVersion>
void fwd_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
               float* running_var, const float* x, const float* gamma, const float* beta,
               const BatchNormShape& s, float momentum, float eps, Stream st) {
    const BatchNormTrainItem it{y,           save_mean, save_invstd, running_mean,
                                running_var, x,         gamma,       beta};
    fwd_train_group<kVersion>({&it, 1}, s, momentum, eps, st);
}

template <int kVersion>
void bwd_train(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
               const float* gamma, const float* save_mean, const float* save_invstd,
               const BatchNormShape& s, GradMode mode, Stream st) {
    const BatchNormGradItem it{dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, mode};
    bwd_train_group<kVersion>({&it, 1}, s, st);
}

template <int kVersion>
void bwd_eval(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
              const float* gamma, const float* running_mean, const float* running_var,
              const BatchNormShape& s, float eps, GradMode mode, Stream st) {
    s.validate_eval(eps);
    if (s.c == 0) return;
    check_channel_fits_int(s);
    // With n = 0 the sums are empty and overwrite still writes dgamma = dbeta = 0, as the CPU.
    if (dgamma || dbeta) {
        if constexpr (kVersion == 1) {
            batch_norm_bwd_eval_reduce_kernel_v1<<<s.c, kReduceBlock, 0, st>>>(
                dgamma, dbeta, dy, x, running_mean, running_var, s, eps, mode);
        } else {
            check_supported(s, supports_v2, "v2");
            batch_norm_bwd_eval_reduce_kernel_v2<<<s.c * kCluster, kClusterBlock, 0, st>>>(
                dgamma, dbeta, dy, x, running_mean, running_var, s, eps, mode);
        }
        CUDARTS_CHECK_LAUNCH();
    }
    if (dx && s.elems() > 0) {
        batch_norm_bwd_eval_dx_kernel_v1<<<blocks_for(s.elems(), kBlock), kBlock, 0, st>>>(
            dx, dy, gamma, running_var, eps, s.c, s.hw, mode, s.elems());
        CUDARTS_CHECK_LAUNCH();
    }
}

const BatchNormVersion kVersions[] = {
    {"v1", supports_any, fwd_train<1>, bwd_train<1>, bwd_eval<1>, fwd_train_group<1>,
     bwd_train_group<1>},
    {"v2", supports_v2, fwd_train<2>, bwd_train<2>, bwd_eval<2>, fwd_train_group<2>,
     bwd_train_group<2>},
};

}  // namespace

void batch_norm_fwd_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                          float* running_var, const float* x, const float* gamma, const float* beta,
                          const BatchNormShape& s, float momentum, float eps, Stream st) {
    preferred_version(kVersions, s)
        .fwd_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta, s,
                   momentum, eps, st);
}

void batch_norm_fwd_eval(float* y, const float* x, const float* gamma, const float* beta,
                         const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, Stream st) {
    s.validate_eval(eps);
    if (s.elems() == 0) return;
    batch_norm_apply_eval_kernel_v1<<<blocks_for(s.elems(), kBlock), kBlock, 0, st>>>(
        y, x, gamma, beta, running_mean, running_var, eps, s.c, s.hw, s.elems());
    CUDARTS_CHECK_LAUNCH();
}

void batch_norm_bwd_train(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                          const float* gamma, const float* save_mean, const float* save_invstd,
                          const BatchNormShape& s, GradMode mode, Stream st) {
    preferred_version(kVersions, s)
        .bwd_train(dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, s, mode, st);
}

void batch_norm_bwd_eval(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, GradMode mode, Stream st) {
    preferred_version(kVersions, s)
        .bwd_eval(dx, dgamma, dbeta, dy, x, gamma, running_mean, running_var, s, eps, mode, st);
}

void batch_norm_group_fwd_train(std::span<const BatchNormTrainItem> items, const BatchNormShape& s,
                                float momentum, float eps, Stream st) {
    preferred_version(kVersions, s).fwd_train_group(items, s, momentum, eps, st);
}

void batch_norm_group_bwd_train(std::span<const BatchNormGradItem> items, const BatchNormShape& s,
                                Stream st) {
    preferred_version(kVersions, s).bwd_train_group(items, s, st);
}

std::span<const BatchNormVersion> batch_norm_versions() { return kVersions; }

}  // namespace cudarts::cuda
