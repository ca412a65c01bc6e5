// Row-wise softmax family and the classification losses on the GPU: the CUDA twins of
// kernels/cpu/softmax.cpp (formulas and semantics in kernels/softmax.h).
// softmax / log_softmax, fwd and bwd: one block of kRowBlock threads per row. Threads stride
// over the row's columns; a block reduction gives the row maximum and then the row sum (of
// exp(x - max), of dy * y or of dy), handed back to every thread. A row is re-read once per pass,
// but a row of a few thousand floats stays in L1/L2, so DRAM sees x (and dy) once and the output
// once: 8 B per element forward, 12 B backward (16 B accumulating). Bandwidth-bound for long
// rows; for DARTS' short rows (10 classes, 8 alphas) the launch and the two barriers dominate and
// the kernel takes a few microseconds whatever it does.
// Losses: the log-softmax above writes logp, then ONE block of kLossBlock threads sums the row
// losses, one warp per row, each warp's lane 0 keeping its rows' running sum, and a block
// reduction over the 32 warps gives the mean, written to the device. No atomics: the result
// depends only on the shape, so a rerun gives the same bits. Without smoothing a row's loss is
// one load (-logp[label]); with smoothing e it is -(1 - e) logp[label] - e / K sum_k logp[k], the
// CPU's sum over the smoothed target regrouped, which reads the row once. One block bounds the
// loss at one SM's bandwidth; for DARTS batches (64-256 rows of 10-1000 classes, at most 1 MB)
// that is a few microseconds. Loss backwards are elementwise over rows x cols.
// count_correct: one block, one warp per row counting the classes that beat the label's logit
// (the CPU's tie rule) and whether any logit is non-finite (such a row is wrong, as on the CPU),
// then a block sum of the per-warp counts.
// Labels are not validated by the launchers (they live on the device): an out-of-range label
// turns its row's loss and gradient into NaN and count_correct's result into -1.
// Precision: float throughout; expf and logf are within 2 ulp, the row sums carry sqrt(cols) ulps,
// against the CPU's double sums: the tests allow tol_for_sum(cols) per element.
//   v1  block per row (softmax family), single block with warp per row (losses, count_correct),
//       grid-stride elementwise (loss backwards): the only versions
#include <algorithm>
#include <cmath>
#include <cub/block/block_reduce.cuh>  // deterministic block-wide tree reduction
#include <limits>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/softmax.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;       // elementwise loss backwards
constexpr int kRowBlock = 128;    // one block per row: 4 warps, enough for rows of 1000 classes
constexpr int kLossBlock = 1024;  // the single block that reduces over rows
constexpr int kWarp = 32;
constexpr int kLossWarps = kLossBlock / kWarp;
constexpr int kMaxGrid = 4096;  // grid-stride cap: enough blocks to fill 132 SMs several times
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();  // a bad label's loss

void check_matrix(int rows, int cols, const char* fn) {
    CUDARTS_CHECK(rows >= 0, fn << ": rows=" << rows << " (cols=" << cols << ")");
    CUDARTS_CHECK(cols >= 1, fn << ": cols=" << cols << " (rows=" << rows << ")");
}

void check_smoothing(float smoothing, const char* fn) {
    CUDARTS_CHECK(smoothing >= 0.f && smoothing <= 1.f,
                  fn << ": smoothing=" << smoothing << ", expected in [0, 1]");
}

int grid_for(int64_t n) { return std::min(blocks_for(n, kBlock), kMaxGrid); }

struct SumOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
    __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};

// op over v of every thread of the block (kThreads wide), returned to every thread. The trailing
// barrier lets the caller reduce again at once: the temp storage and broadcast slot are reused.
template <int kThreads, class Op>
__device__ float block_allreduce(float v, Op op) {
    using Reduce = cub::BlockReduce<float, kThreads>;
    __shared__ typename Reduce::TempStorage temp;
    __shared__ float result;
    const float r = Reduce(temp).Reduce(v, op);  // valid in thread 0 only
    if (threadIdx.x == 0) result = r;
    __syncthreads();
    const float out = result;
    __syncthreads();
    return out;
}

// The row maximum m and s = sum_j exp(x_j - m) of the row at xr, reduced over the block and
// returned to every thread: what softmax and log-softmax forward both start from.
struct RowExpSum {
    float m, s;
};

__device__ RowExpSum row_exp_sum(const float* __restrict__ xr, int cols) {
    float m = -INFINITY;
    for (int j = threadIdx.x; j < cols; j += kRowBlock) m = MaxOp{}(m, xr[j]);
    m = block_allreduce<kRowBlock>(m, MaxOp{});
    float s = 0.f;
    for (int j = threadIdx.x; j < cols; j += kRowBlock) s += expf(xr[j] - m);
    return {m, block_allreduce<kRowBlock>(s, SumOp{})};
}

// Block b: row b. softmax: y = exp(x - m) / s; log-softmax (kLog): y = (x - m) - log s.
template <bool kLog>
__global__ void __launch_bounds__(kRowBlock)
    softmax_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, int cols) {
    const int64_t o = int64_t(blockIdx.x) * cols;
    const RowExpSum r = row_exp_sum(x + o, cols);
    if constexpr (kLog) {
        const float log_s = logf(r.s);
        for (int j = threadIdx.x; j < cols; j += kRowBlock) y[o + j] = (x[o + j] - r.m) - log_s;
    } else {
        for (int j = threadIdx.x; j < cols; j += kRowBlock) y[o + j] = expf(x[o + j] - r.m) / r.s;
    }
}

// Block b: row b, a row sum t and then an elementwise pass. softmax: t = <dy, y> and
// dx = y (dy - t); log-softmax (kLog): t = sum(dy) and dx = dy - softmax(x) t, with
// softmax(x) = exp(y) from the saved output.
template <bool kLog>
__global__ void __launch_bounds__(kRowBlock)
    softmax_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy,
                          const float* __restrict__ y, int cols, GradMode mode) {
    const int64_t o = int64_t(blockIdx.x) * cols;
    float t = 0.f;
    for (int j = threadIdx.x; j < cols; j += kRowBlock)
        t += kLog ? dy[o + j] : dy[o + j] * y[o + j];
    t = block_allreduce<kRowBlock>(t, SumOp{});
    for (int j = threadIdx.x; j < cols; j += kRowBlock) {
        const float g = kLog ? dy[o + j] - expf(y[o + j]) * t : y[o + j] * (dy[o + j] - t);
        write_grad(dx[o + j], g, mode);
    }
}

// One block: thread t takes rows t, t + 1024, ...; loss = -sum_r logp[r, label_r] / rows.
__global__ void __launch_bounds__(kLossBlock)
    nll_loss_fwd_kernel_v1(float* __restrict__ loss, const float* __restrict__ logp,
                           const int32_t* __restrict__ labels, int rows, int cols) {
    float partial = 0.f;
    for (int r = threadIdx.x; r < rows; r += kLossBlock) {
        const int l = labels[r];
        partial -= (l >= 0 && l < cols) ? logp[int64_t(r) * cols + l] : kNaN;
    }
    const float total = block_allreduce<kLossBlock>(partial, SumOp{});
    if (threadIdx.x == 0) loss[0] = rows > 0 ? total / float(rows) : 0.f;
}

// One thread per element of (rows, cols): -dloss / rows at the label, 0 elsewhere.
__global__ void __launch_bounds__(kBlock)
    nll_loss_bwd_kernel_v1(float* __restrict__ dlogp, const float* __restrict__ dloss,
                           const int32_t* __restrict__ labels, int rows, int cols, GradMode mode) {
    const float g = -dloss[0] / float(rows);
    const int64_t total = int64_t(rows) * cols;
    for (int64_t i = first_index(); i < total; i += grid_stride()) {
        const int64_t r = i / cols;
        const int j = int(i - r * cols);
        const int l = labels[r];
        const float v = (l >= 0 && l < cols) ? (j == l ? g : 0.f) : kNaN;
        write_grad(dlogp[i], v, mode);
    }
}

// One block, one warp per row (rows w, w + 32, ... for warp w): the mean over rows of
// sum_k -t_k logp[r, k], t = (1 - e) onehot + e / K, regrouped as in the file note.
__global__ void __launch_bounds__(kLossBlock)
    cross_entropy_fwd_kernel_v1(float* __restrict__ loss, const float* __restrict__ logp,
                                const int32_t* __restrict__ labels, int rows, int cols,
                                float smoothing) {
    const int warp = int(threadIdx.x) / kWarp, lane = int(threadIdx.x) % kWarp;
    float partial = 0.f;  // lane 0: the sum of this warp's row losses
    for (int r = warp; r < rows; r += kLossWarps) {
        const float* lp = logp + int64_t(r) * cols;
        const int l = labels[r];  // the same in every lane: the branches below are warp-uniform
        float row = kNaN;
        if (l >= 0 && l < cols) {
            row = -(1.f - smoothing) * lp[l];
            if (smoothing > 0.f) {
                float s = 0.f;
                for (int k = lane; k < cols; k += kWarp) s += lp[k];
                row -= smoothing / float(cols) * warp_sum(s);
            }
        }
        if (lane == 0) partial += row;
    }
    const float total = block_allreduce<kLossBlock>(partial, SumOp{});
    if (threadIdx.x == 0) loss[0] = rows > 0 ? total / float(rows) : 0.f;
}

// One thread per element of (rows, cols): dloss / rows * (exp(logp) - t).
__global__ void __launch_bounds__(kBlock)
    cross_entropy_bwd_kernel_v1(float* __restrict__ dlogits, const float* __restrict__ dloss,
                                const float* __restrict__ logp, const int32_t* __restrict__ labels,
                                int rows, int cols, float smoothing, GradMode mode) {
    const float g = dloss[0] / float(rows);
    const float uniform = smoothing / float(cols);  // e / K, every class's share of the target
    const int64_t total = int64_t(rows) * cols;
    for (int64_t i = first_index(); i < total; i += grid_stride()) {
        const int64_t r = i / cols;
        const int k = int(i - r * cols);
        const int l = labels[r];
        float v = kNaN;
        if (l >= 0 && l < cols) {
            const float t = (k == l ? 1.f - smoothing : 0.f) + uniform;
            v = g * (expf(logp[i]) - t);
        }
        write_grad(dlogits[i], v, mode);
    }
}

// One block, one warp per row: the row is correct when fewer than topk classes beat the label,
// where j beats l if x_j > x_l, or x_j == x_l and j < l (cpu/softmax.cpp's tie rule), and every
// logit of the row is finite.
__global__ void __launch_bounds__(kLossBlock)
    count_correct_kernel_v1(int32_t* __restrict__ correct, const float* __restrict__ logits,
                            const int32_t* __restrict__ labels, int rows, int cols, int topk) {
    const int warp = int(threadIdx.x) / kWarp, lane = int(threadIdx.x) % kWarp;
    int hits = 0;  // lane 0: this warp's correct rows
    bool bad = false;
    for (int r = warp; r < rows; r += kLossWarps) {
        const float* xr = logits + int64_t(r) * cols;
        const int l = labels[r];  // warp-uniform, like the branch on it
        if (l < 0 || l >= cols) {
            bad = true;
            continue;
        }
        const float xl = xr[l];
        int beaten_by = 0;
        bool finite = true;
        for (int j = lane; j < cols; j += kWarp) {
            beaten_by += (xr[j] > xl || (xr[j] == xl && j < l)) ? 1 : 0;
            finite = finite && isfinite(xr[j]);
        }
        beaten_by = __reduce_add_sync(0xffffffffu, beaten_by);
        finite = __all_sync(0xffffffffu, finite);
        if (lane == 0 && finite && beaten_by < topk) ++hits;
    }
    const bool any_bad = __syncthreads_or(bad) != 0;
    using Reduce = cub::BlockReduce<int, kLossBlock>;
    __shared__ typename Reduce::TempStorage temp;
    const int total = Reduce(temp).Sum(hits);  // valid in thread 0 only
    if (threadIdx.x == 0) correct[0] = any_bad ? -1 : total;
}

// Softmax (kLog false) or log-softmax forward over the rows, one block per row.
template <bool kLog>
void softmax_rows_fwd(float* y, const float* x, int rows, int cols, const char* fn, Stream st) {
    check_matrix(rows, cols, fn);
    if (rows == 0) return;
    softmax_fwd_kernel_v1<kLog><<<rows, kRowBlock, 0, st>>>(y, x, cols);
    CUDARTS_CHECK_LAUNCH();
}

// The backward of softmax_rows_fwd<kLog>, from the saved output y.
template <bool kLog>
void softmax_rows_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode,
                      const char* fn, Stream st) {
    check_matrix(rows, cols, fn);
    if (rows == 0) return;
    softmax_bwd_kernel_v1<kLog><<<rows, kRowBlock, 0, st>>>(dx, dy, y, cols, mode);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace

void softmax_fwd(float* y, const float* x, int rows, int cols, Stream st) {
    softmax_rows_fwd<false>(y, x, rows, cols, "softmax_fwd", st);
}

void softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode,
                 Stream st) {
    softmax_rows_bwd<false>(dx, dy, y, rows, cols, mode, "softmax_bwd", st);
}

void log_softmax_fwd(float* y, const float* x, int rows, int cols, Stream st) {
    softmax_rows_fwd<true>(y, x, rows, cols, "log_softmax_fwd", st);
}

void log_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode,
                     Stream st) {
    softmax_rows_bwd<true>(dx, dy, y, rows, cols, mode, "log_softmax_bwd", st);
}

void nll_loss_fwd(float* loss, const float* logp, const int32_t* labels, int rows, int cols,
                  Stream st) {
    check_matrix(rows, cols, "nll_loss_fwd");
    // No early return: an empty batch still writes loss = 0, as the CPU returns.
    nll_loss_fwd_kernel_v1<<<1, kLossBlock, 0, st>>>(loss, logp, labels, rows, cols);
    CUDARTS_CHECK_LAUNCH();
}

void nll_loss_bwd(float* dlogp, const float* dloss, const int32_t* labels, int rows, int cols,
                  GradMode mode, Stream st) {
    check_matrix(rows, cols, "nll_loss_bwd");
    if (rows == 0) return;
    nll_loss_bwd_kernel_v1<<<grid_for(int64_t(rows) * cols), kBlock, 0, st>>>(dlogp, dloss, labels,
                                                                              rows, cols, mode);
    CUDARTS_CHECK_LAUNCH();
}

void cross_entropy_fwd(float* loss, float* logp, const float* logits, const int32_t* labels,
                       int rows, int cols, float smoothing, Stream st) {
    check_matrix(rows, cols, "cross_entropy_fwd");
    check_smoothing(smoothing, "cross_entropy_fwd");
    if (rows > 0) {
        softmax_fwd_kernel_v1<true><<<rows, kRowBlock, 0, st>>>(logp, logits, cols);
        CUDARTS_CHECK_LAUNCH();
    }
    // Launched for rows = 0 too: the empty batch's loss is 0, as on the CPU.
    cross_entropy_fwd_kernel_v1<<<1, kLossBlock, 0, st>>>(loss, logp, labels, rows, cols,
                                                          smoothing);
    CUDARTS_CHECK_LAUNCH();
}

void cross_entropy_bwd(float* dlogits, const float* dloss, const float* logp, const int32_t* labels,
                       int rows, int cols, float smoothing, GradMode mode, Stream st) {
    check_matrix(rows, cols, "cross_entropy_bwd");
    check_smoothing(smoothing, "cross_entropy_bwd");
    if (rows == 0) return;
    cross_entropy_bwd_kernel_v1<<<grid_for(int64_t(rows) * cols), kBlock, 0, st>>>(
        dlogits, dloss, logp, labels, rows, cols, smoothing, mode);
    CUDARTS_CHECK_LAUNCH();
}

void count_correct(int32_t* correct, const float* logits, const int32_t* labels, int rows, int cols,
                   int topk, Stream st) {
    check_matrix(rows, cols, "count_correct");
    CUDARTS_CHECK(topk >= 1,
                  "count_correct: topk=" << topk << " (rows=" << rows << " cols=" << cols << ")");
    // Launched for rows = 0 too, so the count is written (0).
    count_correct_kernel_v1<<<1, kLossBlock, 0, st>>>(correct, logits, labels, rows, cols, topk);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace cudarts::cuda
