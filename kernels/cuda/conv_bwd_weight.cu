// Convolution weight gradient (wgrad, `_bwd_weight`), NCHW fp32, semantics of kernels/conv.h and
// cpu/conv.cpp; the input gradient is conv_bwd_data.cu. Each dw element is one sum finished by a
// single write_grad: no atomics, and every version is deterministic. Minimal traffic: x and dy
// read once and the tiny dw written, a long reduction (K = n*ho*wo = 65536 terms per weight for
// C=16 32x32 at N=64) whose difficulty is spreading it over enough SMs.
//   v1      one block per weight element reducing its n*ho*wo products with
//           cub::BlockReduce (any shape)
//   v2      depthwise, k in {1, 3, 5, 7}: one 8-block thread-block cluster per
//           channel. Block r of the cluster takes samples r, r + 8, ...; for each
//           output tile it stages the x window of several samples in shared memory,
//           and each thread accumulates all k*k taps in registers from its outputs'
//           dy. Each tap is block-reduced, then block 0 sums the 8 partials in rank
//           order through distributed shared memory: deterministic, no workspace,
//           and C*8 blocks (128 for C=16) instead of C. Needs sm_90 (clusters).
//   cublas  1x1 stride 1 groups 1: dW = sum_n dy_n x_n^T as n SGEMMs accumulating
//           into dW in sample order (NCHW gives no single-GEMM view of the sum): n
//           launches (64 per call at batch 64). Kept as the cuBLAS reference row of the
//           tests and the benchmark.
//   v3      1x1 stride 1 groups 1: the same sum in ONE launch (n GEMMs -> 1
//           kernel, no reduction launch). A cluster of 8 blocks per 16 x 16 tile of
//           dW splits the n*h*w columns into 8 contiguous ranges, each block a small
//           shared-memory GEMM over its range summing in double, and rank 0 adds the
//           8 partials in rank order through distributed shared memory, rounding
//           once: deterministic, no atomics.
//           Why one custom kernel rather than a strided-batched GEMM into an
//           (n x c_out x c_in) workspace plus a reduction over n: kernels/ never
//           allocates and these launchers take no workspace pointer, and a fixed
//           global scratch buffer would race between streams. The cost: a 16 x 16
//           dW (C=16) gets only 8 blocks; a workspace argument would allow a
//           two-stage split over many more. Not timed on a GPU yet. The launcher's
//           choice for pointwise shapes: one launch instead of n, and one per
//           kConvGroupChunk items of a group.
#include <cooperative_groups.h>  // thread-block clusters and distributed shared memory

#include <algorithm>
#include <cub/block/block_reduce.cuh>
#include <span>

#include "kernels/check.h"
#include "kernels/conv.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/conv_tile.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/item_table.h"

namespace cudarts::cuda {

namespace {

namespace cg = cooperative_groups;

constexpr int kBlock = 256;
constexpr int kCluster = 8;  // portable maximum cluster size on sm_90
constexpr int kWTile = 16;   // bwd_weight v3: a 16 x 16 tile of dW, one element per thread
constexpr int kChunk = 64;   // bwd_weight v3: columns (n, p) staged per pass
static_assert(kWTile * kWTile == kBlock && kBlock % kChunk == 0);
using WeightTable = ItemTable<ConvWeightGradItem, kConvGroupChunk>;  // blockIdx.y: the item

bool supports_cublas(const Conv2dShape& s) { return s.is_pointwise(); }
bool supports_any(const Conv2dShape&) { return true; }

// bwd_weight v2's tile of the outputs: its window is the x the tile reads.
ConvTile plan_weight_tile(const Conv2dShape& s) {
    return plan_conv_tile(
        s.ho(), s.wo(), [&](int edge) { return input_extent(s, edge); }, 0);
}

// How many samples' windows one bwd_weight v2 pass stages: enough to give the 256 threads an
// output each, no more than a cluster rank has samples, and within kSmemMax.
int weight_planes(const Conv2dShape& s, const ConvTile& t) {
    const int per_rank = std::max(1, (s.n + kCluster - 1) / kCluster);
    const int planes = std::max(1, kBlock / (t.th * t.tw));
    return std::min({planes, per_rank, int(std::max<size_t>(1, kSmemMax / t.smem))});
}

bool supports_weight_v2(const Conv2dShape& s) {
    return s.is_depthwise() && (s.k == 1 || s.k == 3 || s.k == 5 || s.k == 7) &&
           plan_weight_tile(s).smem <= kSmemMax;
}

// One block per weight element (o, c, a, b) of item blockIdx.y; threads stride over its n*ho*wo
// products.
__global__ void __launch_bounds__(kBlock)
    conv2d_bwd_weight_kernel_v1(const __grid_constant__ WeightTable items, Conv2dShape s) {
    const ConvWeightGradItem& it = items.item[blockIdx.y];
    float* __restrict__ dw = it.dw;
    const float* __restrict__ dy = it.dy;
    const float* __restrict__ x = it.x;
    const GradMode mode = it.mode;
    using Reduce = cub::BlockReduce<float, kBlock>;
    __shared__ typename Reduce::TempStorage reduce_tmp;
    const int ho = s.ho(), wo = s.wo(), cpg = s.cin_per_group(), opg = s.cout_per_group();
    const int64_t widx = blockIdx.x;  // ((o * cpg + c) * k + a) * k + b
    const int b = int(widx % s.k);
    const int a = int(widx / s.k % s.k);
    const int c = int(widx / (int64_t(s.k) * s.k) % cpg);
    const int o = int(widx / (int64_t(s.k) * s.k * cpg));
    const int cx = o / opg * cpg + c;  // the input channel this weight reads
    const int64_t per_sample = int64_t(ho) * wo;
    float acc = 0.f;
    for (int64_t e = threadIdx.x; e < s.n * per_sample; e += kBlock) {
        const int n = int(e / per_sample);
        const int i = int(e % per_sample / wo), j = int(e % wo);
        const int p = i * s.stride - s.pad + a * s.dil;
        const int q = j * s.stride - s.pad + b * s.dil;
        if (p < 0 || p >= s.h || q < 0 || q >= s.w) continue;
        acc += dy[(int64_t(n) * s.c_out + o) * per_sample + e % per_sample] *
               x[((int64_t(n) * s.c_in + cx) * s.h + p) * s.w + q];
    }
    const float sum = Reduce(reduce_tmp).Sum(acc);
    if (threadIdx.x == 0) write_grad(dw[widx], sum, mode);
}

// One cluster of kCluster blocks per channel c (blockIdx.x = c * kCluster + rank) of item
// blockIdx.y. Thread e of a pass handles output e % (th*tw) of the tile for staged sample
// e / (th*tw).
template <int K>
__global__ void __cluster_dims__(kCluster, 1, 1) __launch_bounds__(kBlock)
    conv2d_bwd_weight_kernel_v2(const __grid_constant__ WeightTable items, Conv2dShape s,
                                ConvTile t, int planes) {
    const ConvWeightGradItem& it = items.item[blockIdx.y];
    float* __restrict__ dw = it.dw;
    const float* __restrict__ dy = it.dy;
    const float* __restrict__ x = it.x;
    const GradMode mode = it.mode;
    using Reduce = cub::BlockReduce<float, kBlock>;
    __shared__ typename Reduce::TempStorage reduce_tmp;
    __shared__ float partial[K * K];  // this block's sum per tap, read by rank 0
    extern __shared__ float sx[];     // `planes` windows of win_h x win_w, zero outside the image
    const cg::cluster_group cluster = cg::this_cluster();
    const int rank = int(cluster.block_rank());
    const int c = int(blockIdx.x / kCluster);
    const int ho = s.ho(), wo = s.wo();
    const int window = t.win_h * t.win_w, tile_outputs = t.th * t.tw;
    const int samples = s.n > rank ? (s.n - rank + kCluster - 1) / kCluster : 0;

    float acc[K * K] = {};
    for (int m0 = 0; m0 < samples; m0 += planes) {
        const int staged = min(planes, samples - m0);  // samples rank + kCluster * (m0 + pl)
        for (int tile = 0; tile < t.tiles_h * t.tiles_w; ++tile) {
            const int i0 = tile / t.tiles_w * t.th, j0 = tile % t.tiles_w * t.tw;
            const int p0 = i0 * s.stride - s.pad, q0 = j0 * s.stride - s.pad;
            __syncthreads();  // the previous pass has finished reading sx
            for (int e = threadIdx.x; e < staged * window; e += kBlock) {
                const int n = rank + kCluster * (m0 + e / window);
                const int p = p0 + e % window / t.win_w, q = q0 + e % t.win_w;
                sx[e] = (p >= 0 && p < s.h && q >= 0 && q < s.w)
                            ? x[((int64_t(n) * s.c_in + c) * s.h + p) * s.w + q]
                            : 0.f;
            }
            __syncthreads();
            for (int e = threadIdx.x; e < staged * tile_outputs; e += kBlock) {
                const int pl = e / tile_outputs;
                const int ti = e % tile_outputs / t.tw, tj = e % t.tw;
                const int i = i0 + ti, j = j0 + tj;
                if (i >= ho || j >= wo) continue;
                const int n = rank + kCluster * (m0 + pl);
                const float g = dy[((int64_t(n) * s.c_out + c) * ho + i) * wo + j];
                const float* base = sx + pl * window + ti * s.stride * t.win_w + tj * s.stride;
#pragma unroll
                for (int a = 0; a < K; ++a)
#pragma unroll
                    for (int b = 0; b < K; ++b)
                        acc[a * K + b] += g * base[a * s.dil * t.win_w + b * s.dil];
            }
        }
    }
#pragma unroll
    for (int tap = 0; tap < K * K; ++tap) {
        const float v = Reduce(reduce_tmp).Sum(acc[tap]);
        if (threadIdx.x == 0) partial[tap] = v;
        __syncthreads();  // reduce_tmp is reused by the next tap
    }
    cluster.sync();  // every rank's partials are written and visible cluster-wide
    if (rank == 0) {
        for (int tap = threadIdx.x; tap < K * K; tap += kBlock) {
            float sum = 0.f;
            for (int r = 0; r < kCluster; ++r) sum += cluster.map_shared_rank(partial, r)[tap];
            write_grad(dw[int64_t(c) * K * K + tap], sum, mode);
        }
    }
    cluster.sync();  // no block exits while rank 0 may still read its shared memory
}

// bwd_weight v3: dW (c_out x c_in) = sum over the columns (n, p) of dy[n, :, p] x[n, :, p]^T, in
// one launch (per chunk of a group: blockIdx.y is the item). A cluster of kCluster blocks owns a
// kWTile x kWTile tile of dW (blockIdx.x = tile * kCluster + rank); rank r takes the r-th of
// kCluster equal contiguous ranges of the n*hw columns (samples in order, pixels in order; a range
// may cross samples) and walks it kChunk columns at a time: the tile's dy rows and x rows for those
// columns go to shared memory (coalesced along p, stored column-major so the FMA loop reads one
// word per operand), then thread (ty, tx) adds the products for dW[o0 + ty, c0 + tx] in double.
// Rank 0 adds the kCluster partials in rank order through distributed shared memory, in double, and
// rounds once: a fixed order that depends on the shape only, so every run gives the same bits. Why
// double: a float product is exact in double, so dW is the exact sum rounded about once, which the
// second-order architect needs (its finite difference divides dW's rounding by R: with 64-term
// float partial sums the 3-step search of tests/test_search_cuda.cpp left the CPU's alphas by
// 5e-5). It should cost little (not timed yet): each warp FMA also needs two shared-memory reads, a
// pipe that saturates before FP64. Traffic: the tiles read dy ceil(c_in / 16) times and x
// ceil(c_out / 16) times (at most 4 at DARTS widths), the repeats mostly from L2, so DRAM sees each
// about once.
__global__ void __cluster_dims__(kCluster, 1, 1) __launch_bounds__(kBlock)
    conv2d_bwd_weight_kernel_v3(const __grid_constant__ WeightTable items, Conv2dShape s) {
    const ConvWeightGradItem& it = items.item[blockIdx.y];
    float* __restrict__ dw = it.dw;
    const float* __restrict__ dy = it.dy;
    const float* __restrict__ x = it.x;
    const GradMode mode = it.mode;
    __shared__ float sdy[kChunk][kWTile + 1];  // [column][output channel]; +1 spreads the banks
    __shared__ float sx[kChunk][kWTile + 1];   // [column][input channel]
    __shared__ double partial[kBlock];         // this rank's sum per dW element, read by rank 0
    const cg::cluster_group cluster = cg::this_cluster();
    const int rank = int(cluster.block_rank());
    const int tile = int(blockIdx.x / kCluster);
    const int tiles_c = (s.c_in + kWTile - 1) / kWTile;
    const int o0 = tile / tiles_c * kWTile, c0 = tile % tiles_c * kWTile;
    const int64_t hw = int64_t(s.h) * s.w, columns = s.n * hw;
    const int64_t begin = columns * rank / kCluster, end = columns * (rank + 1) / kCluster;
    // The loader's column within a chunk is the same on every pass (kBlock is a multiple of
    // kChunk), and it fills rows row0, row0 + kRowStep, ... of both tiles.
    constexpr int kRowStep = kBlock / kChunk;
    const int lk = int(threadIdx.x) % kChunk, row0 = int(threadIdx.x) / kChunk;
    const int ty = int(threadIdx.x) / kWTile, tx = int(threadIdx.x) % kWTile;

    double acc = 0.0;
    for (int64_t k0 = begin; k0 < end; k0 += kChunk) {
        const int64_t col = k0 + lk;
        const bool live = col < end;
        const int64_t n = live ? col / hw : 0, p = live ? col - n * hw : 0;
        const float* dyp = dy + n * s.c_out * hw + p;  // dy[n, 0, p]
        const float* xp = x + n * s.c_in * hw + p;     // x[n, 0, p]
        __syncthreads();                               // the previous chunk has been read
        for (int r = row0; r < kWTile; r += kRowStep) {
            const int o = o0 + r, c = c0 + r;
            sdy[lk][r] = live && o < s.c_out ? dyp[o * hw] : 0.f;
            sx[lk][r] = live && c < s.c_in ? xp[c * hw] : 0.f;
        }
        __syncthreads();
#pragma unroll 16
        for (int k = 0; k < kChunk; ++k) acc += double(sdy[k][ty]) * sx[k][tx];  // exact product
    }
    partial[threadIdx.x] = acc;
    cluster.sync();  // every rank's partials are written and visible cluster-wide
    const int o = o0 + ty, c = c0 + tx;
    if (rank == 0 && o < s.c_out && c < s.c_in) {
        double sum = 0.0;
        for (int r = 0; r < kCluster; ++r) sum += cluster.map_shared_rank(partial, r)[threadIdx.x];
        write_grad(dw[int64_t(o) * s.c_in + c], float(sum), mode);
    }
    cluster.sync();  // no block exits while rank 0 may still read its shared memory
}

// dW for an empty batch: zero under overwrite, untouched under accumulate.
void empty_weight_grad(float* dw, const Conv2dShape& s, GradMode mode, Stream st) {
    if (mode == GradMode::kOverwrite)
        CUDARTS_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(s.weight_elems()) * sizeof(float), st));
}

// An empty batch: every item's dW zero under overwrite, untouched under accumulate.
void empty_weight_grads(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                        Stream st) {
    for (const ConvWeightGradItem& it : items) empty_weight_grad(it.dw, s, it.mode, st);
}

void conv2d_bwd_weight_group_v1(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                                Stream st) {
    s.validate();
    if (s.n == 0) return empty_weight_grads(items, s, st);
    for_each_chunk<kConvGroupChunk>(items, [&](const WeightTable& t, unsigned count) {
        conv2d_bwd_weight_kernel_v1<<<dim3(unsigned(blocks_for(s.weight_elems(), 1)), count),
                                      kBlock, 0, st>>>(t, s);
        CUDARTS_CHECK_LAUNCH();
    });
}

void conv2d_bwd_weight_group_v2(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                                Stream st) {
    check_conv_supported(s, supports_weight_v2, "conv2d_bwd_weight v2");
    if (s.n == 0) return empty_weight_grads(items, s, st);
    const ConvTile tile = plan_weight_tile(s);
    const int planes = weight_planes(s, tile);
    const size_t smem = size_t(planes) * tile.smem;
    const unsigned blocks = unsigned(blocks_for(int64_t(s.c_in) * kCluster, 1));
    for_each_chunk<kConvGroupChunk>(items, [&](const WeightTable& t, unsigned count) {
        const dim3 grid(blocks, count);
        switch (s.k) {
            case 1:
                conv2d_bwd_weight_kernel_v2<1><<<grid, kBlock, smem, st>>>(t, s, tile, planes);
                break;
            case 3:
                conv2d_bwd_weight_kernel_v2<3><<<grid, kBlock, smem, st>>>(t, s, tile, planes);
                break;
            case 5:
                conv2d_bwd_weight_kernel_v2<5><<<grid, kBlock, smem, st>>>(t, s, tile, planes);
                break;
            default:  // 7, by supports_weight_v2
                conv2d_bwd_weight_kernel_v2<7><<<grid, kBlock, smem, st>>>(t, s, tile, planes);
                break;
        }
        CUDARTS_CHECK_LAUNCH();
    });
}

// The single launches: groups of one.
template <void (*Group)(std::span<const ConvWeightGradItem>, const Conv2dShape&, Stream)>
void conv2d_bwd_weight_one(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                           GradMode mode, Stream st) {
    const ConvWeightGradItem it{dw, dy, x, mode};
    Group({&it, 1}, s, st);
}

// A version with a launch per item (cuBLAS's, v3): its group is a call each.
template <void (*One)(float*, const float*, const float*, const Conv2dShape&, GradMode, Stream)>
void conv2d_bwd_weight_each(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                            Stream st) {
    for (const ConvWeightGradItem& it : items) One(it.dw, it.dy, it.x, s, it.mode, st);
}

void conv2d_bwd_weight_cublas(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                              GradMode mode, Stream st) {
    const int64_t hw = checked_gemm_plane(s, "conv2d_bwd_weight cublas");
    if (s.n == 0) return empty_weight_grad(dw, s, mode, st);
    // Row-major dW (c_out x c_in) (+)= dy_n (c_out x hw) x_n^T (hw x c_in), samples in order;
    // the first product overwrites under kOverwrite and every later one adds.
    for (int n = 0; n < s.n; ++n)
        gemm_rm(false, true, s.c_out, s.c_in, int(hw), dy + int64_t(n) * s.c_out * hw, int(hw),
                x + int64_t(n) * s.c_in * hw, int(hw), n == 0 ? mode : GradMode::kAccumulate, dw,
                s.c_in, st);
}

void conv2d_bwd_weight_group_v3(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                                Stream st) {
    check_conv_supported(s, supports_cublas, "conv2d_bwd_weight v3");
    if (s.n == 0) return empty_weight_grads(items, s, st);
    const int64_t tiles =
        int64_t((s.c_out + kWTile - 1) / kWTile) * ((s.c_in + kWTile - 1) / kWTile);
    const unsigned blocks = unsigned(blocks_for(tiles * kCluster, 1));
    for_each_chunk<kConvGroupChunk>(items, [&](const WeightTable& t, unsigned count) {
        conv2d_bwd_weight_kernel_v3<<<dim3(blocks, count), kBlock, 0, st>>>(t, s);
        CUDARTS_CHECK_LAUNCH();
    });
}

const Conv2dBwdWeightVersion kBwdWeightVersions[] = {
    {"v1", supports_any, conv2d_bwd_weight_one<conv2d_bwd_weight_group_v1>,
     conv2d_bwd_weight_group_v1},
    {"v2", supports_weight_v2, conv2d_bwd_weight_one<conv2d_bwd_weight_group_v2>,
     conv2d_bwd_weight_group_v2},
    {"cublas", supports_cublas, conv2d_bwd_weight_cublas,
     conv2d_bwd_weight_each<conv2d_bwd_weight_cublas>},
    // after cublas: the launcher's choice
    {"v3", supports_cublas, conv2d_bwd_weight_one<conv2d_bwd_weight_group_v3>,
     conv2d_bwd_weight_group_v3},
};

}  // namespace

void conv2d_bwd_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                       GradMode mode, Stream st) {
    s.validate();
    preferred_version(conv2d_bwd_weight_versions(), s).launch(dw, dy, x, s, mode, st);
}

void conv2d_group_bwd_weight(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                             Stream st) {
    s.validate();
    preferred_version(conv2d_bwd_weight_versions(), s).launch_group(items, s, st);
}

std::span<const Conv2dBwdWeightVersion> conv2d_bwd_weight_versions() { return kBwdWeightVersions; }

}  // namespace cudarts::cuda
