// Convolution forward (fprop), NCHW fp32, semantics of kernels/conv.h and cpu/conv.cpp.
// Minimal traffic is x once, w once and y once. Per output a depthwise k x k tap reads k^2 inputs
// (9 or 25 FMAs for 8 B of DRAM at stride 1), so depthwise is bandwidth-bound and the game is to
// read each input from DRAM once; the 1x1 convolution is a skinny GEMM (K = c_in, at most a few
// hundred in DARTS), also bandwidth-bound, left to cuBLAS. Nothing here has been timed yet.
//   v1      one thread per output, a direct port of the CPU gather loop in float (any groups,
//           stride, pad, dilation); neighbouring threads share inputs through L1 only
//   v2      depthwise (groups == c_in == c_out): a block owns an output tile (up to 32 x 32) of
//           one (n, c) plane, stages the input window the tile reads (tile plus halo, zero
//           padded) and the k x k weights in shared memory once, then each thread sums its
//           outputs from shared memory. DARTS planes (32, 16, 8) fit one tile, so DRAM sees x once
//   cublas  1x1, stride 1, pad 0, groups 1: y_n = W x_n for every sample n as one strided
//           batched SGEMM (W broadcast with stride 0); FP32 unless cuda::set_tf32(true)
//   pw      the same 1x1 shapes as our own kernel (kernels/cuda/conv_pointwise.cu), one launch per
//           kConvGroupChunk convs of a group where cuBLAS needs a call each: the launcher's pick
//           for them, cuBLAS only past the widths its shared memory takes
#include <algorithm>
#include <climits>
#include <span>
#include <vector>

#include "kernels/check.h"
#include "kernels/conv.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/conv_pointwise.h"
#include "kernels/cuda/conv_tile.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/item_table.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
using FwdTable = ItemTable<ConvFwdItem, kConvGroupChunk>;  // blockIdx.y picks the item
bool supports_cublas(const Conv2dShape& s) { return s.is_pointwise(); }
bool supports_any(const Conv2dShape&) { return true; }

// v2's tile of the output plane: its window is the input the tile reads, staged with the k*k
// weights.
ConvTile plan_tile(const Conv2dShape& s) {
    return plan_conv_tile(
        s.ho(), s.wo(), [&](int edge) { return input_extent(s, edge); }, size_t(s.k) * s.k);
}

bool supports_v2(const Conv2dShape& s) { return s.is_depthwise() && plan_tile(s).smem <= kSmemMax; }

// One thread per output (n, o, i, j) of item blockIdx.y, j fastest so that a warp reads
// neighbouring inputs.
__global__ void conv2d_fwd_kernel_v1(const __grid_constant__ FwdTable items, Conv2dShape s) {
    const ConvFwdItem& it = items.item[blockIdx.y];
    float* __restrict__ y = it.y;
    const float* __restrict__ x = it.x;
    const float* __restrict__ w = it.w;
    const int ho = s.ho(), wo = s.wo(), cpg = s.cin_per_group(), opg = s.cout_per_group();
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= int64_t(s.n) * s.c_out * ho * wo) return;
    const int j = int(idx % wo);
    const int i = int(idx / wo % ho);
    const int o = int(idx / (int64_t(wo) * ho) % s.c_out);
    const int n = int(idx / (int64_t(wo) * ho * s.c_out));
    const int c0 = o / opg * cpg;  // first input channel of o's group
    float acc = 0.f;
    for (int c = 0; c < cpg; ++c) {
        const float* xc = x + (int64_t(n) * s.c_in + c0 + c) * s.h * s.w;
        const float* wc = w + (int64_t(o) * cpg + c) * s.k * s.k;
        s.for_each_tap(i, j, [&](int a, int b, int p, int q) {
            acc += wc[a * s.k + b] * xc[int64_t(p) * s.w + q];
        });
    }
    y[idx] = acc;
}

// One block per (plane, tile) of item blockIdx.y; threads stride over the tile's outputs, j
// fastest.
__global__ void conv2d_fwd_kernel_v2(const __grid_constant__ FwdTable items, Conv2dShape s,
                                     ConvTile t) {
    const ConvFwdItem& it = items.item[blockIdx.y];
    float* __restrict__ y = it.y;
    const float* __restrict__ x = it.x;
    const float* __restrict__ w = it.w;
    extern __shared__ float smem[];
    const DwBlock blk = dw_block(t, s.c_in);
    const int ho = s.ho(), wo = s.wo();
    const int i0 = blk.row0, j0 = blk.col0;
    stage_window(smem, t, x + blk.plane * s.h * s.w, s.h, s.w, i0 * s.stride - s.pad,
                 j0 * s.stride - s.pad, w + int64_t(blk.c) * s.k * s.k, s.k * s.k);
    const float* sx = smem;                      // the window, zero outside the image
    const float* sw = smem + t.win_h * t.win_w;  // this channel's k x k weights

    float* yp = y + blk.plane * ho * wo;
    for (int e = threadIdx.x; e < t.th * t.tw; e += blockDim.x) {
        const int ti = e / t.tw, tj = e % t.tw;
        const int i = i0 + ti, j = j0 + tj;
        if (i >= ho || j >= wo) continue;
        float acc = 0.f;
        for (int a = 0; a < s.k; ++a) {
            const float* row = sx + (ti * s.stride + a * s.dil) * t.win_w + tj * s.stride;
            for (int b = 0; b < s.k; ++b) acc += sw[a * s.k + b] * row[b * s.dil];
        }
        yp[int64_t(i) * wo + j] = acc;
    }
}

void conv2d_fwd_group_v1(std::span<const ConvFwdItem> items, const Conv2dShape& s, Stream st) {
    s.validate();
    const int64_t outputs = s.out_elems();
    if (outputs == 0) return;
    for_each_chunk<kConvGroupChunk>(items, [&](const FwdTable& t, unsigned count) {
        conv2d_fwd_kernel_v1<<<dim3(unsigned(blocks_for(outputs, kBlock)), count), kBlock, 0, st>>>(
            t, s);
        CUDARTS_CHECK_LAUNCH();
    });
}

void conv2d_fwd_group_v2(std::span<const ConvFwdItem> items, const Conv2dShape& s, Stream st) {
    s.validate();
    CUDARTS_CHECK(supports_v2(s),
                  "conv2d_fwd v2: needs a depthwise shape whose window fits "
                  "shared memory, got "
                      << s);
    if (s.out_elems() == 0) return;
    const ConvTile tile = plan_tile(s);
    const int64_t blocks = int64_t(s.n) * s.c_in * tile.tiles_h * tile.tiles_w;
    for_each_chunk<kConvGroupChunk>(items, [&](const FwdTable& t, unsigned count) {
        conv2d_fwd_kernel_v2<<<dim3(unsigned(blocks_for(blocks, 1)), count), tile.threads(kBlock),
                               tile.smem, st>>>(t, s, tile);
        CUDARTS_CHECK_LAUNCH();
    });
}

// The single launches: groups of one.
template <void (*Group)(std::span<const ConvFwdItem>, const Conv2dShape&, Stream)>
void conv2d_fwd_one(float* y, const float* x, const float* w, const Conv2dShape& s, Stream st) {
    const ConvFwdItem it{y, x, w};
    Group({&it, 1}, s, st);
}

void conv2d_fwd_cublas(float* y, const float* x, const float* w, const Conv2dShape& s, Stream st) {
    s.validate();
    CUDARTS_CHECK(s.is_pointwise(),
                  "conv2d_fwd cublas: needs k=1 stride=1 pad=0 groups=1, got " << s);
    const int64_t hw = int64_t(s.h) * s.w;
    CUDARTS_CHECK(hw <= INT_MAX, "conv2d_fwd cublas: h*w exceeds a GEMM dimension in " << s);
    if (s.out_elems() == 0) return;
    // Row-major y_n (c_out x hw) = W (c_out x c_in) x_n (c_in x hw), W shared by every sample.
    gemm_rm_strided_batched(false, false, s.c_out, int(hw), s.c_in, w, s.c_in, 0, x, int(hw),
                            s.c_in * hw, GradMode::kOverwrite, y, int(hw), s.c_out * hw, s.n, st);
}

// cuBLAS's group: a call per item.
void conv2d_fwd_group_cublas(std::span<const ConvFwdItem> items, const Conv2dShape& s, Stream st) {
    for (const ConvFwdItem& it : items) conv2d_fwd_cublas(it.y, it.x, it.w, s, st);
}

// pw: each forward item an out of its own, overwritten.
void conv2d_fwd_group_pw(std::span<const ConvFwdItem> items, const Conv2dShape& s, Stream st) {
    std::vector<ConvDataGradItem> runs;
    for (const ConvFwdItem& it : items) runs.push_back({it.y, it.x, it.w, GradMode::kOverwrite});
    pointwise_group(runs, s, false, st);
}

const Conv2dFwdVersion kFwdVersions[] = {
    {"v1", supports_any, conv2d_fwd_one<conv2d_fwd_group_v1>, conv2d_fwd_group_v1},
    {"v2", supports_v2, conv2d_fwd_one<conv2d_fwd_group_v2>, conv2d_fwd_group_v2},
    {"cublas", supports_cublas, conv2d_fwd_cublas, conv2d_fwd_group_cublas},
    {"pw", supports_pointwise, conv2d_fwd_one<conv2d_fwd_group_pw>, conv2d_fwd_group_pw},
};

}  // namespace

void conv2d_fwd(float* y, const float* x, const float* w, const Conv2dShape& s, Stream st) {
    s.validate();
    preferred_version(conv2d_fwd_versions(), s).launch(y, x, w, s, st);
}

void conv2d_group_fwd(std::span<const ConvFwdItem> items, const Conv2dShape& s, Stream st) {
    s.validate();
    preferred_version(conv2d_fwd_versions(), s).launch_group(items, s, st);
}

std::span<const Conv2dFwdVersion> conv2d_fwd_versions() { return kFwdVersions; }

}  // namespace cudarts::cuda
