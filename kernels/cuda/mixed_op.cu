// The DARTS mixed edge on the GPU, out = sum_k w_k y_k: the CUDA twins of kernels/cpu/mixed_op.cpp
// (formulas in kernels/mixed_op.h). The K candidate pointers arrive as a host array; the launcher
// copies them into a fixed-size table passed by value in the kernel arguments (K <= 64, 16 for the
// softmax form), so no device-side pointer array has to be allocated or uploaded.
// A search-cell node (mixed_node_fwd) is the same forward over all its edges' candidates, each
// edge's sum kept apart and the edges added in order: one launch for the node, where per-edge
// mixed sums and adds took 2E - 1; its backward is mixed_sum_bwd over all of them.
// Weights: every block first puts the K weights in shared memory, either copied from w or, for
// mixed_softmax_sum, as softmax(alpha) computed by thread 0 in float (K terms, a few hundred
// cycles per block): that is the fusion, alpha goes in and no w tensor is ever written.
//   fwd        one thread per element, grid-stride: reads the K' present candidates and writes
//              out once, 4 (K' + 1) B per element; bandwidth-bound (36 B for DARTS' 8).
//   bwd data   one thread per element: dout read once, dy_k = w_k dout written for every wanted
//              candidate, 4 (1 + K'') B per element (+4 K'' accumulating); bandwidth-bound.
//   bwd weight dw_k = <dout, y_k>: block k of a K-block grid reduces over all n with a
//              block-stride loop (8 loads in flight per stream per thread) and cub::BlockReduce,
//              then writes dw_k once with its GradMode. Deterministic, no atomics, no workspace;
//              but only K of the 132 SMs work, each at one SM's share of bandwidth, so it is
//              bound by per-SM load throughput, not DRAM: about 8 MB per block for a 1 M-element
//              DARTS edge, tens of microseconds (v1). v2 gives candidate k a cluster of 8 blocks
//              (cluster_sum.h): 8K SMs (64 for DARTS) read, rank r the r-th of 8 contiguous
//              ranges, and rank 0 adds the 8 block totals in rank order.
//   softmax bwd weight  dalpha_j = w_j (dw_j - sum_k w_k dw_k) needs every dw_k at once, which
//              K separate blocks cannot share without a workspace, so ONE block (v1) computes all
//              K dot products (K accumulators per thread, one pass over dout and the candidates),
//              warp sums into a shared (warp, k) table, thread k adds the 32 warp partials of k in
//              a fixed order, and thread 0 applies the softmax Jacobian. One SM reads 4 (K' + 1) n
//              bytes: about 9x slower than the K-block dw above for DARTS. v2 runs the same on one
//              cluster of 8 blocks, each over its range, and rank 0 adds the ranks' K products in
//              rank order before the Jacobian: 8 SMs read. A grid-wide version needs a workspace
//              of per-block products; models that need the speed take softmax_fwd on the (14, 8)
//              alphas and then mixed_sum.
// A null ys[k] (`none`) adds nothing, gets no gradient, and has dw_k = 0, as on the CPU.
// Precision: float sums of K terms (forward) and n terms (dot products) against the CPU's double;
// the tests allow tol_for_sum of the term count.
//   v1  the kernels above, one block per reduction
//   v2  the weight and alpha gradients on clusters of 8 blocks, from n >= 8192 (one value per
//       thread of a cluster), the launchers' pick there; needs sm_90
#include <algorithm>
#include <cub/block/block_reduce.cuh>  // deterministic block-wide tree reduction
#include <span>

#include "kernels/check.h"
#include "kernels/cuda/cluster_sum.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/mixed_op.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;         // elementwise forward and data backward
constexpr int kReduceBlock = 1024;  // the reducing blocks: the most threads a block holds
constexpr int kWarp = 32;
constexpr int kReduceWarps = kReduceBlock / kWarp;
constexpr int kUnroll = 8;      // loads in flight per stream per thread in the dot products
constexpr int kMaxGrid = 4096;  // grid-stride cap: enough blocks to fill 132 SMs several times

// Pointer tables passed by value as kernel arguments; entries k >= K are null.
struct InPtrs {
    const float* p[kMaxCandidates];
};
struct OutPtrs {
    float* p[kMaxCandidates];
};

void check_sizes(int K, int64_t n, const char* fn, int max_k = kMaxCandidates) {
    CUDARTS_CHECK(K >= 1 && K <= max_k,
                  fn << ": K=" << K << ", expected 1.." << max_k << " (n=" << n << ")");
    CUDARTS_CHECK(n >= 0, fn << ": n=" << n << " (K=" << K << ")");
}

InPtrs in_table(const float* const* ys, int K) {
    InPtrs t{};
    for (int k = 0; k < K; ++k) t.p[k] = ys[k];
    return t;
}

int grid_for(int64_t n) { return std::min(blocks_for(n, kBlock), kMaxGrid); }

// The K weights into shared w_s: copied from w, or softmax(w) when from_logits (w then holds
// alpha). Thread 0 does it, subtracting the maximum first as cpu::softmax_fwd does; the barrier
// publishes w_s to the block.
__device__ void load_weights(float* w_s, const float* __restrict__ w, int K, bool from_logits) {
    if (threadIdx.x == 0) {
        if (from_logits) {
            float m = w[0];
            for (int k = 1; k < K; ++k) m = w[k] > m ? w[k] : m;
            float s = 0.f;
            for (int k = 0; k < K; ++k) {
                w_s[k] = expf(w[k] - m);
                s += w_s[k];
            }
            for (int k = 0; k < K; ++k) w_s[k] /= s;
        } else {
            for (int k = 0; k < K; ++k) w_s[k] = w[k];
        }
    }
    __syncthreads();
}

// One thread per element: out_i = sum_k w_k y_k[i] over the present candidates, in order of k,
// each run of `run` candidates (an edge of a node, mixed_node_fwd; run = K for one edge) summed
// on its own and the runs' sums added in order. The loop runs to the compile-time kMaxCandidates
// so the table is indexed by constants.
__global__ void __launch_bounds__(kBlock)
    mixed_sum_fwd_kernel_v1(float* __restrict__ out, const InPtrs ys, const float* __restrict__ w,
                            int K, int run, int64_t n, bool from_logits) {
    __shared__ float w_s[kMaxCandidates];
    load_weights(w_s, w, K, from_logits);
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
        float node = 0.f, s = 0.f;
        int left = run;  // candidates left in this run
#pragma unroll
        for (int k = 0; k < kMaxCandidates; ++k) {
            if (k >= K) break;
            if (ys.p[k]) s += w_s[k] * ys.p[k][i];
            if (--left == 0) {
                node = k + 1 == run ? s : node + s;
                s = 0.f;
                left = run;
            }
        }
        out[i] = node;
    }
}

// One thread per element: dy_k[i] = w_k dout_i for every candidate with a table entry (the
// launcher leaves out `none` candidates and unwanted gradients).
__global__ void __launch_bounds__(kBlock)
    mixed_sum_bwd_data_kernel_v1(const OutPtrs dys, const float* __restrict__ dout,
                                 const float* __restrict__ w, int K, int64_t n, GradMode mode,
                                 bool from_logits) {
    __shared__ float w_s[kMaxCandidates];
    load_weights(w_s, w, K, from_logits);
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
        const float d = dout[i];
#pragma unroll
        for (int k = 0; k < kMaxCandidates; ++k)
            if (k < K && dys.p[k]) write_grad(dys.p[k][i], w_s[k] * d, mode);
    }
}

// Block k: dw_k = <dout, y_k>. Thread t takes elements t + j * kReduceBlock in order of j, whole
// groups of kUnroll issued before their multiply-adds; a `none` candidate writes 0 at once.
__global__ void __launch_bounds__(kReduceBlock)
    mixed_sum_bwd_weight_kernel_v1(float* __restrict__ dw, const float* __restrict__ dout,
                                   const __grid_constant__ InPtrs ys, int64_t n, GradMode mode) {
    // __grid_constant__ lets ys.p[blockIdx.x] read the argument in place instead of copying the
    // whole table to local memory to index it at run time.
    const int k = int(blockIdx.x);
    const float* __restrict__ y = ys.p[k];
    if (y == nullptr) {  // uniform across the block: nobody is left waiting at a barrier
        if (threadIdx.x == 0) write_grad(dw[k], 0.f, mode);
        return;
    }
    const float partial =
        block_stride_partial<kReduceBlock, kUnroll>(n, [&](int64_t i) { return dout[i] * y[i]; });
    using Reduce = cub::BlockReduce<float, kReduceBlock>;
    __shared__ typename Reduce::TempStorage temp;
    const float total = Reduce(temp).Sum(partial);  // valid in thread 0 only
    if (threadIdx.x == 0) write_grad(dw[k], total, mode);
}

// Block k (v1) or cluster k (v2): dw_k = <dout, y_k>; a `none` candidate writes 0 at once.
// __grid_constant__ lets ys.p[k] read the argument in place instead of copying the whole table to
// local memory to index it at run time.
__global__ void __cluster_dims__(kClusterSize, 1, 1) __launch_bounds__(kReduceBlock)
    mixed_sum_bwd_weight_kernel_v2(float* __restrict__ dw, const float* __restrict__ dout,
                                   const __grid_constant__ InPtrs ys, int64_t n, GradMode mode) {
    const int k = int(blockIdx.x) / kClusterSize;
    const bool writer = blockIdx.x % kClusterSize == 0 && threadIdx.x == 0;  // rank 0, thread 0
    const float* __restrict__ y = ys.p[k];
    if (y == nullptr) {  // uniform across the cluster: nobody is left waiting at a barrier
        if (writer) write_grad(dw[k], 0.f, mode);
        return;
    }
    const float total =
        cluster_sum<kReduceBlock, kUnroll>(n, [&](int64_t i) { return dout[i] * y[i]; });
    if (writer) write_grad(dw[k], total, mode);
}

// The block's K dot products <dout, y_k> over [begin, end) into dots[k], k < K: K accumulators per
// thread in one pass over dout and the candidates, warp sums into a shared (warp, k) table, then
// thread k adds the kReduceWarps warp partials of k in warp order. Ends with a barrier.
__device__ void block_dots(float* dots, const float* __restrict__ dout, const InPtrs& ys, int K,
                           int64_t begin, int64_t end) {
    __shared__ float warp_dots[kReduceWarps][kMaxSoftmaxCandidates];
    float acc[kMaxSoftmaxCandidates];
#pragma unroll
    for (int k = 0; k < kMaxSoftmaxCandidates; ++k) acc[k] = 0.f;
    for (int64_t i = begin + threadIdx.x; i < end; i += kReduceBlock) {
        const float d = dout[i];
#pragma unroll
        for (int k = 0; k < kMaxSoftmaxCandidates; ++k)
            if (k < K && ys.p[k]) acc[k] += d * ys.p[k][i];
    }
    const int warp = int(threadIdx.x) / kWarp, lane = int(threadIdx.x) % kWarp;
#pragma unroll
    for (int k = 0; k < kMaxSoftmaxCandidates; ++k) {
        if (k >= K) break;  // K is the same in every thread: no lane skips a shuffle
        const float v = warp_sum(acc[k]);
        if (lane == 0) warp_dots[warp][k] = v;
    }
    __syncthreads();
    if (int(threadIdx.x) < K) {
        float dot = 0.f;
        for (int wp = 0; wp < kReduceWarps; ++wp) dot += warp_dots[wp][threadIdx.x];
        dots[threadIdx.x] = dot;
    }
    __syncthreads();
}

// dalpha_j = w_j (dw_j - sum_k w_k dw_k) from dw_k = dw(k), by the one calling thread.
template <class Dw>
__device__ void softmax_jacobian(float* __restrict__ dalpha, const float* w_s, int K, GradMode mode,
                                 const Dw& dw) {
    float dot = 0.f;  // sum_k w_k dw_k, the part of dw that only rescales the weights
    for (int k = 0; k < K; ++k) dot += dw(k) * w_s[k];
    for (int k = 0; k < K; ++k) write_grad(dalpha[k], w_s[k] * (dw(k) - dot), mode);
}

// One block: all K dot products dw_k = <dout, y_k> in one pass, then
// dalpha_j = w_j (dw_j - sum_k w_k dw_k) by thread 0, w = softmax(alpha).
__global__ void __launch_bounds__(kReduceBlock)
    mixed_softmax_sum_bwd_weight_kernel_v1(float* __restrict__ dalpha,
                                           const float* __restrict__ dout, const InPtrs ys,
                                           const float* __restrict__ alpha, int K, int64_t n,
                                           GradMode mode) {
    __shared__ float w_s[kMaxSoftmaxCandidates];
    __shared__ float dots[kMaxSoftmaxCandidates];
    load_weights(w_s, alpha, K, /*from_logits=*/true);
    block_dots(dots, dout, ys, K, 0, n);
    if (threadIdx.x == 0) softmax_jacobian(dalpha, w_s, K, mode, [&](int k) { return dots[k]; });
}

// One cluster: rank r takes the K dot products over the r-th of kClusterSize ranges, and thread
// 0 of rank 0 adds the ranks' products in rank order before the softmax Jacobian.
__global__ void __cluster_dims__(kClusterSize, 1, 1) __launch_bounds__(kReduceBlock)
    mixed_softmax_sum_bwd_weight_kernel_v2(float* __restrict__ dalpha,
                                           const float* __restrict__ dout, const InPtrs ys,
                                           const float* __restrict__ alpha, int K, int64_t n,
                                           GradMode mode) {
    __shared__ float w_s[kMaxSoftmaxCandidates];
    __shared__ float dots[kMaxSoftmaxCandidates];  // this rank's products, read by rank 0
    const cg::cluster_group cluster = cg::this_cluster();
    const int rank = int(cluster.block_rank());
    load_weights(w_s, alpha, K, /*from_logits=*/true);
    const RankRange r = rank_range(n, rank);
    block_dots(dots, dout, ys, K, r.begin, r.end);
    cluster.sync();  // every rank's products are written
    if (rank == 0 && threadIdx.x == 0)
        softmax_jacobian(dalpha, w_s, K, mode,
                         [&](int k) { return cluster_total(cluster, dots, k); });
    cluster.sync();  // rank 0 has read them all: blocks may exit
}

void mixed_fwd(float* out, const float* const* ys, const float* w, int K, int run, int64_t n,
               bool from_logits, const char* fn, Stream st) {
    check_sizes(K, n, fn, from_logits ? kMaxSoftmaxCandidates : kMaxCandidates);
    CUDARTS_CHECK(run >= 1 && K % run == 0,
                  fn << ": " << K << " candidates are not edges of " << run);
    if (n == 0) return;
    mixed_sum_fwd_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(out, in_table(ys, K), w, K, run, n,
                                                            from_logits);
    CUDARTS_CHECK_LAUNCH();
}

// dy_k = w_k dout for the candidates that exist and whose gradient is wanted, if any.
void mixed_bwd_data(float* const* dys, const float* dout, const float* const* ys, const float* w,
                    int K, int64_t n, GradMode mode, bool from_logits, Stream st) {
    if (n == 0 || dys == nullptr) return;
    OutPtrs t{};
    bool any = false;
    for (int k = 0; k < K; ++k)
        if (ys[k] && dys[k]) {  // a `none` candidate gets nothing even if a pointer was passed
            t.p[k] = dys[k];
            any = true;
        }
    if (!any) return;
    mixed_sum_bwd_data_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(t, dout, w, K, n, mode,
                                                                 from_logits);
    CUDARTS_CHECK_LAUNCH();
}

bool supports_any(int64_t) { return true; }
bool supports_v2(int64_t n) { return fills_cluster(n, kReduceBlock); }

template <int kVersion>
void sum_bwd_version(float* const* dys, float* dw, const float* dout, const float* const* ys,
                     const float* w, int K, int64_t n, GradMode mode, Stream st) {
    check_sizes(K, n, "mixed_sum_bwd");
    if constexpr (kVersion == 2) check_fills_cluster(n, kReduceBlock, "mixed_sum_bwd");
    mixed_bwd_data(dys, dout, ys, w, K, n, mode, /*from_logits=*/false, st);
    if (!dw) return;
    // Launched for n = 0 too: dw is still written (0, or unchanged when accumulating).
    if constexpr (kVersion == 1)
        mixed_sum_bwd_weight_kernel_v1<<<K, kReduceBlock, 0, st>>>(dw, dout, in_table(ys, K), n,
                                                                   mode);
    else
        mixed_sum_bwd_weight_kernel_v2<<<K * kClusterSize, kReduceBlock, 0, st>>>(
            dw, dout, in_table(ys, K), n, mode);
    CUDARTS_CHECK_LAUNCH();
}

template <int kVersion>
void softmax_sum_bwd_version(float* const* dys, float* dalpha, const float* dout,
                             const float* const* ys, const float* alpha, int K, int64_t n,
                             GradMode mode, Stream st) {
    check_sizes(K, n, "mixed_softmax_sum_bwd", kMaxSoftmaxCandidates);
    if constexpr (kVersion == 2) check_fills_cluster(n, kReduceBlock, "mixed_softmax_sum_bwd");
    mixed_bwd_data(dys, dout, ys, alpha, K, n, mode, /*from_logits=*/true, st);
    if (!dalpha) return;
    if constexpr (kVersion == 1)  // launched for n = 0 too, as above
        mixed_softmax_sum_bwd_weight_kernel_v1<<<1, kReduceBlock, 0, st>>>(
            dalpha, dout, in_table(ys, K), alpha, K, n, mode);
    else
        mixed_softmax_sum_bwd_weight_kernel_v2<<<kClusterSize, kReduceBlock, 0, st>>>(
            dalpha, dout, in_table(ys, K), alpha, K, n, mode);
    CUDARTS_CHECK_LAUNCH();
}

const MixedBwdVersion kMixedBwdVersions[] = {
    {"v1", supports_any, sum_bwd_version<1>, softmax_sum_bwd_version<1>},
    {"v2", supports_v2, sum_bwd_version<2>, softmax_sum_bwd_version<2>},
};

}  // namespace

void mixed_sum_fwd(float* out, const float* const* ys, const float* w, int K, int64_t n,
                   Stream st) {
    mixed_fwd(out, ys, w, K, K, n, /*from_logits=*/false, "mixed_sum_fwd", st);
}

void mixed_node_fwd(float* out, const float* const* ys, const float* w, int K, int run, int64_t n,
                    Stream st) {
    mixed_fwd(out, ys, w, K, run, n, /*from_logits=*/false, "mixed_node_fwd", st);
}

void mixed_sum_bwd(float* const* dys, float* dw, const float* dout, const float* const* ys,
                   const float* w, int K, int64_t n, GradMode mode, Stream st) {
    preferred_version(kMixedBwdVersions, n).mixed_sum_bwd(dys, dw, dout, ys, w, K, n, mode, st);
}

void mixed_softmax_sum_fwd(float* out, const float* const* ys, const float* alpha, int K, int64_t n,
                           Stream st) {
    mixed_fwd(out, ys, alpha, K, K, n, /*from_logits=*/true, "mixed_softmax_sum_fwd", st);
}

void mixed_softmax_sum_bwd(float* const* dys, float* dalpha, const float* dout,
                           const float* const* ys, const float* alpha, int K, int64_t n,
                           GradMode mode, Stream st) {
    preferred_version(kMixedBwdVersions, n)
        .mixed_softmax_sum_bwd(dys, dalpha, dout, ys, alpha, K, n, mode, st);
}

std::span<const MixedBwdVersion> mixed_bwd_versions() { return kMixedBwdVersions; }

}  // namespace cudarts::cuda
