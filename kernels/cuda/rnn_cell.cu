// The recurrent cell's highway update on the GPU: the CUDA twins of kernels/cpu/rnn_cell.cpp
// (formulas in kernels/rnn_cell.h). It replaces the seven elementwise kernels a node took when
// composed from ops (two slices, sigmoid, the activation, subtract, multiply, add; four times over
// for a search edge plus the mixed sum) by one, forward and backward.
//   fwd, bwd data  one thread per state element (row r, unit j), grid-stride: reads s, the two
//              gate pre-activations and writes out (forward) or dch, ds (backward): 16 B and 20 B
//              per element, bandwidth-bound. A search edge's 5 logits are turned into softmax
//              weights by thread 0 of each block into shared memory (the fusion: alpha goes in,
//              no weight tensor is written).
//   bwd alpha  g_k = <dout, y_k> for the 4 activations: one block of 1024 threads, 4 accumulators
//              per thread in one pass, warp sums into a shared (warp, k) table and thread 0 adds
//              the 32 warp partials in a fixed order (deterministic, no atomics) and applies the
//              softmax Jacobian. A search edge holds batch x nhid elements (256 x 300 = 77k in the
//              paper's search): one SM reads them in a few microseconds.
// Precision: per element the same float operations in the same order as the CPU (tanhf, expf
// within 2 ulp of libm; nvcc may fuse a multiply-add); the alpha dot products sum in float
// against the CPU's double, so the tests allow tol_for_sum of the element count.
//   v1  the kernels above (the only version)
#include <algorithm>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/rnn_cell.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kReduceBlock = 1024;
constexpr int kWarp = 32;
constexpr int kReduceWarps = kReduceBlock / kWarp;
constexpr int kMaxGrid = 4096;
constexpr int kActs = kRnnEdgeLogits - 1;

void check_sizes(int64_t rows, int64_t n, const char* fn) {
    CUDARTS_CHECK(rows >= 0 && n >= 1, fn << ": rows=" << rows << " n=" << n);
}

int grid_for(int64_t count) { return std::min(blocks_for(count, kBlock), kMaxGrid); }

// softmax(alpha) into shared p_s by thread 0, the maximum subtracted first; the barrier publishes
// it to the block.
__device__ void load_edge_weights(float* p_s, const float* __restrict__ alpha) {
    if (threadIdx.x == 0) rnn_edge_weights(p_s, alpha);
    __syncthreads();
}

// Where element i = r * n + j of a state sits in ch: its gate at r * 2n + j, h n further.
__device__ int64_t gate_index(int64_t i, int64_t n) { return (i / n) * 2 * n + i % n; }

__global__ void __launch_bounds__(kBlock)
    highway_fwd_kernel_v1(float* __restrict__ out, const float* __restrict__ ch,
                          const float* __restrict__ s, int64_t count, int64_t n, RnnAct act) {
    for (int64_t i = first_index(); i < count; i += grid_stride()) {
        const int64_t ic = gate_index(i, n);
        const float c = rnn_sigmoid(ch[ic]);
        out[i] = s[i] + c * (rnn_act(act, ch[ic + n]) - s[i]);
    }
}

__global__ void __launch_bounds__(kBlock)
    highway_bwd_kernel_v1(const HighwayGrads g, const float* __restrict__ dout,
                          const float* __restrict__ ch, const float* __restrict__ s, int64_t count,
                          int64_t n, RnnAct act) {
    for (int64_t i = first_index(); i < count; i += grid_stride()) {
        const int64_t ic = gate_index(i, n), ih = ic + n;
        const float c = rnn_sigmoid(ch[ic]), h = ch[ih], f = rnn_act(act, h), d = dout[i];
        if (g.dch) {
            write_grad(g.dch[ic], d * (f - s[i]) * c * (1.f - c), g.ch_mode);
            write_grad(g.dch[ih], d * c * rnn_act_slope(act, h, f), g.ch_mode);
        }
        if (g.ds) write_grad(g.ds[i], d * (1.f - c), g.s_mode);
    }
}

__global__ void __launch_bounds__(kBlock)
    highway_mix_fwd_kernel_v1(float* __restrict__ out, const float* __restrict__ ch,
                              const float* __restrict__ s, const float* __restrict__ alpha,
                              int64_t count, int64_t n) {
    __shared__ float p_s[kRnnEdgeLogits];
    load_edge_weights(p_s, alpha);
    for (int64_t i = first_index(); i < count; i += grid_stride()) {
        const int64_t ic = gate_index(i, n);
        out[i] = rnn_mix_terms(p_s, rnn_sigmoid(ch[ic]), ch[ic + n], s[i]).out;
    }
}

__global__ void __launch_bounds__(kBlock)
    highway_mix_bwd_data_kernel_v1(const HighwayGrads g, const float* __restrict__ dout,
                                   const float* __restrict__ ch, const float* __restrict__ s,
                                   const float* __restrict__ alpha, int64_t count, int64_t n) {
    __shared__ float p_s[kRnnEdgeLogits];
    load_edge_weights(p_s, alpha);
    for (int64_t i = first_index(); i < count; i += grid_stride()) {
        const int64_t ic = gate_index(i, n), ih = ic + n;
        const float c = rnn_sigmoid(ch[ic]), d = dout[i];
        const RnnMixTerms t = rnn_mix_terms(p_s, c, ch[ih], s[i]);
        if (g.dch) {
            write_grad(g.dch[ic], d * t.gate_factor * c * (1.f - c), g.ch_mode);
            write_grad(g.dch[ih], d * c * t.slope, g.ch_mode);
        }
        if (g.ds) write_grad(g.ds[i], d * t.weight_sum * (1.f - c), g.s_mode);
    }
}

// One block: g_k = <dout, y_k> for the 4 activations, then dalpha_j = p_j (g_j - sum p_k g_k).
__global__ void __launch_bounds__(kReduceBlock)
    highway_mix_bwd_alpha_kernel_v1(float* __restrict__ dalpha, GradMode mode,
                                    const float* __restrict__ dout, const float* __restrict__ ch,
                                    const float* __restrict__ s, const float* __restrict__ alpha,
                                    int64_t count, int64_t n) {
    __shared__ float p_s[kRnnEdgeLogits];
    __shared__ float warp_dots[kReduceWarps][kActs];
    load_edge_weights(p_s, alpha);
    float acc[kActs] = {0.f, 0.f, 0.f, 0.f};
    for (int64_t i = threadIdx.x; i < count; i += kReduceBlock) {
        const int64_t ic = gate_index(i, n);
        const RnnMixTerms t = rnn_mix_terms(p_s, rnn_sigmoid(ch[ic]), ch[ic + n], s[i]);
        const float d = dout[i];
#pragma unroll
        for (int k = 0; k < kActs; ++k) acc[k] += d * t.y[k];
    }
    const int warp = int(threadIdx.x) / kWarp, lane = int(threadIdx.x) % kWarp;
#pragma unroll
    for (int k = 0; k < kActs; ++k) {
        const float v = warp_sum(acc[k]);
        if (lane == 0) warp_dots[warp][k] = v;
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    float dots[kActs];
    for (int k = 0; k < kActs; ++k) {
        dots[k] = 0.f;
        for (int w = 0; w < kReduceWarps; ++w) dots[k] += warp_dots[w][k];
    }
    rnn_edge_logit_grads(dalpha, mode, p_s, dots);
}

}  // namespace

void highway_fwd(float* out, const float* ch, const float* s, int64_t rows, int64_t n, RnnAct act,
                 Stream st) {
    check_sizes(rows, n, "highway_fwd");
    if (rows == 0) return;
    highway_fwd_kernel_v1<<<grid_for(rows * n), kBlock, 0, st>>>(out, ch, s, rows * n, n, act);
    CUDARTS_CHECK_LAUNCH();
}

void highway_bwd(const HighwayGrads& g, const float* dout, const float* ch, const float* s,
                 int64_t rows, int64_t n, RnnAct act, Stream st) {
    check_sizes(rows, n, "highway_bwd");
    if (rows == 0 || (!g.dch && !g.ds)) return;
    highway_bwd_kernel_v1<<<grid_for(rows * n), kBlock, 0, st>>>(g, dout, ch, s, rows * n, n, act);
    CUDARTS_CHECK_LAUNCH();
}

void highway_mix_fwd(float* out, const float* ch, const float* s, const float* alpha, int64_t rows,
                     int64_t n, Stream st) {
    check_sizes(rows, n, "highway_mix_fwd");
    if (rows == 0) return;
    highway_mix_fwd_kernel_v1<<<grid_for(rows * n), kBlock, 0, st>>>(out, ch, s, alpha, rows * n,
                                                                     n);
    CUDARTS_CHECK_LAUNCH();
}

void highway_mix_bwd(const HighwayGrads& g, float* dalpha, GradMode alpha_mode, const float* dout,
                     const float* ch, const float* s, const float* alpha, int64_t rows, int64_t n,
                     Stream st) {
    check_sizes(rows, n, "highway_mix_bwd");
    if (rows > 0 && (g.dch || g.ds)) {
        highway_mix_bwd_data_kernel_v1<<<grid_for(rows * n), kBlock, 0, st>>>(g, dout, ch, s, alpha,
                                                                              rows * n, n);
        CUDARTS_CHECK_LAUNCH();
    }
    if (dalpha) {  // launched for rows = 0 too: dalpha is still written
        highway_mix_bwd_alpha_kernel_v1<<<1, kReduceBlock, 0, st>>>(dalpha, alpha_mode, dout, ch, s,
                                                                    alpha, rows * n, n);
        CUDARTS_CHECK_LAUNCH();
    }
}

}  // namespace cudarts::cuda
