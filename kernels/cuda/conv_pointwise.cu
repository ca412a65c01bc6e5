// The 1x1 convolution (stride 1, no padding, one group) as our own kernel, forward and input
// gradient (kernels/cuda/conv_pointwise.h). Per sample n it is a skinny matrix product,
// out_n (R x hw) = M (R x L) in_n (L x hw), with R, L the channel counts (16 to 64 in the DARTS
// search): little arithmetic per byte, so it is bandwidth-bound, and cuBLAS needs a call per conv
// where this takes a launch per kConvGroupChunk of them.
//   A thread owns one column (n, p) of the n*hw columns (a block of 256 consecutive columns; at
//   8 x 8 planes a block spans 4 samples) and kPwRows rows of out at a time: the block stages those
//   rows of M in shared memory, then each thread walks in's column l = 0 .. L-1 (coalesced along
//   p) adding M[r, l] in[n, l, p] for its kPwRows rows. A run of items sharing out (the input
//   gradient of one input) works through its items in order for each slice of rows, applying each
//   item's GradMode, as the single calls in sequence would (kernels/cuda/item_table.h, RunTable).
//   Sums are in double, each product exact, rounded once per item: the bits of the SIMT
//   emulator's cuBLAS (tests/simt/cublas.cpp, which sums the same products in the same order), and
//   closer to the exact value than cuBLAS's float sums. The cost on a GPU, untimed: an FP64 FMA
//   per product, which stays under the DRAM time up to about 32 channels at Hopper's FP64 rate and
//   is about twice it at 64; a float accumulator is the change to try when this is timed.
// in is reread from L1/L2 once per slice of rows (R / kPwRows times, 1 at C=16, 4 at C=64).
#include <algorithm>
#include <span>

#include "kernels/check.h"
#include "kernels/cuda/conv_pointwise.h"
#include "kernels/cuda/conv_tile.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/item_table.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kPwRows = 16;  // rows of out per pass: 16 double accumulators per thread
using PwRuns = RunTable<ConvDataGradItem, kConvGroupChunk>;  // blockIdx.y: the run

template <bool kTranspose>
__global__ void __launch_bounds__(kBlock)
    pointwise_kernel(const __grid_constant__ PwRuns runs, Conv2dShape s) {
    extern __shared__ float sm[];  // rows r0 .. r0 + kPwRows - 1 of M, each L long
    const int rows = kTranspose ? s.c_in : s.c_out, len = kTranspose ? s.c_out : s.c_in;
    const int first = runs.first[blockIdx.y], count = runs.count[blockIdx.y];
    const int64_t hw = int64_t(s.h) * s.w;
    const int64_t col = int64_t(blockIdx.x) * kBlock + threadIdx.x;
    const bool live = col < s.n * hw;
    const int64_t n = live ? col / hw : 0, p = live ? col - n * hw : 0;
    float* __restrict__ out = runs.item[first].dx + n * rows * hw + p;  // out[n, 0, p]

    for (int r0 = 0; r0 < rows; r0 += kPwRows) {
        const int slice = min(kPwRows, rows - r0);
        float v[kPwRows] = {};
        for (int k = 0; k < count; ++k) {
            const ConvDataGradItem& it = runs.item[first + k];
            __syncthreads();  // the previous slice has been read
            for (int e = threadIdx.x; e < slice * len; e += kBlock) {
                const int r = r0 + e / len, l = e % len;
                sm[e] = kTranspose ? it.w[int64_t(l) * s.c_in + r] : it.w[int64_t(r) * s.c_in + l];
            }
            __syncthreads();
            if (!live) continue;
            const float* __restrict__ in = it.dy + n * len * hw + p;  // in[n, 0, p]
            double acc[kPwRows] = {};
            for (int l = 0; l < len; ++l) {
                const double x = in[l * hw];
#pragma unroll
                for (int j = 0; j < kPwRows; ++j)
                    if (j < slice) acc[j] += double(sm[j * len + l]) * x;
            }
#pragma unroll
            for (int j = 0; j < kPwRows; ++j) {
                if (j >= slice) continue;
                v[j] = run_step(v[j], k, out[int64_t(r0 + j) * hw], float(acc[j]), it.mode);
            }
        }
        if (!live) continue;
#pragma unroll
        for (int j = 0; j < kPwRows; ++j)
            if (j < slice) out[int64_t(r0 + j) * hw] = v[j];
    }
}

// The shared memory of a slice of kPwRows rows of M, each len long.
size_t slice_bytes(int len) { return size_t(kPwRows) * size_t(len) * sizeof(float); }

}  // namespace

bool supports_pointwise(const Conv2dShape& s) {
    return s.is_pointwise() && slice_bytes(std::max(s.c_in, s.c_out)) <= kSmemMax;
}

void pointwise_group(std::span<const ConvDataGradItem> items, const Conv2dShape& s, bool transpose,
                     Stream st) {
    check_conv_supported(s, supports_pointwise, transpose ? "conv2d_bwd_data pw" : "conv2d_fwd pw");
    if (s.n == 0) return;
    const unsigned blocks = unsigned(blocks_for(s.n * int64_t(s.h) * s.w, kBlock));
    const size_t smem = slice_bytes(transpose ? s.c_out : s.c_in);
    for_each_run_chunk<kConvGroupChunk>(
        items, [](const ConvDataGradItem& it) { return it.dx; },
        [&](const PwRuns& t, unsigned runs) {
            if (transpose)
                pointwise_kernel<true><<<dim3(blocks, runs), kBlock, smem, st>>>(t, s);
            else
                pointwise_kernel<false><<<dim3(blocks, runs), kBlock, smem, st>>>(t, s);
            CUDARTS_CHECK_LAUNCH();
        });
}

}  // namespace cudarts::cuda
