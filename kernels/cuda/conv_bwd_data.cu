// Convolution input gradient (dgrad, `_bwd_data`), NCHW fp32, semantics of kernels/conv.h and
// cpu/conv.cpp; the weight gradient is conv_bwd_weight.cu. Each dx element is a gather, one float
// sum finished by a single write: no atomics, and every version is deterministic. Minimal
// traffic: dy and w read and dx written once (bandwidth-bound like the forward).
//   v1      one thread per dx element, a direct port of the CPU gather (any shape)
//   v2      depthwise: a block owns a dx tile (up to 32 x 32) of one (n, c) plane and stages the
//           dy window it needs (zero outside dy) and the k x k weights in shared memory; each dx
//           sums the taps whose output position is whole
//   cublas  1x1 stride 1 groups 1: dx_n = W^T dy_n, one strided batched SGEMM
//   pw      the same 1x1 shapes as our own kernel (kernels/cuda/conv_pointwise.cu), a launch per
//           kConvGroupChunk items of a group: the launcher's pick where it applies
// Groups (conv2d_group_bwd_data): v1, v2 and pw take a RunTable (kernels/cuda/item_table.h) of up
// to kConvGroupChunk items. The items of one dx (an edge group's convs of one shared input) form a
// run, and the run's block works through them in order, keeping its dx elements in registers:
// item by item it stages that item's window, adds its taps, and applies its GradMode, so dx gets
// the bits of the single calls in sequence and is written once. A single call is a group of one.
#include <span>

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
// v2: the dx elements one thread keeps (a 32 x 32 tile over 256 threads).
constexpr int kSlots = kTileMax * kTileMax / kBlock;
using DataRuns = RunTable<ConvDataGradItem, kConvGroupChunk>;  // blockIdx.y: the run

bool supports_cublas(const Conv2dShape& s) { return s.is_pointwise(); }
bool supports_any(const Conv2dShape&) { return true; }

// v2's tile of dx: its window is the dy the tile reads, staged with the k*k weights. Rows
// p0 .. p0 + th - 1 read output rows floor((p0 + pad - (k-1) dil) / stride) up to
// floor((p0 + th - 1 + pad) / stride): at most (th - 1 + (k-1) dil) / stride + 2 of them.
ConvTile plan_data_tile(const Conv2dShape& s) {
    const auto rows = [&](int edge) { return (edge - 1 + (s.k - 1) * s.dil) / s.stride + 2; };
    return plan_conv_tile(s.h, s.w, rows, size_t(s.k) * s.k);
}

bool supports_data_v2(const Conv2dShape& s) {
    return s.is_depthwise() && plan_data_tile(s).smem <= kSmemMax;
}

__device__ int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// One thread per dx element (n, c, p, q) of run blockIdx.y, q fastest.
__global__ void conv2d_bwd_data_kernel_v1(const __grid_constant__ DataRuns runs, Conv2dShape s) {
    const int first = runs.first[blockIdx.y], count = runs.count[blockIdx.y];
    float* __restrict__ dx = runs.item[first].dx;
    const int ho = s.ho(), wo = s.wo(), cpg = s.cin_per_group(), opg = s.cout_per_group();
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= int64_t(s.n) * s.c_in * s.h * s.w) return;
    const int q = int(idx % s.w);
    const int p = int(idx / s.w % s.h);
    const int c = int(idx / (int64_t(s.w) * s.h) % s.c_in);
    const int n = int(idx / (int64_t(s.w) * s.h * s.c_in));
    const int g = c / cpg, cl = c % cpg;  // c's group and its index inside the group
    float v = 0.f;
    for (int k = 0; k < count; ++k) {
        const ConvDataGradItem& it = runs.item[first + k];
        float acc = 0.f;
        for (int o = g * opg; o < (g + 1) * opg; ++o) {
            const float* dyo = it.dy + (int64_t(n) * s.c_out + o) * ho * wo;
            const float* wo_c = it.w + (int64_t(o) * cpg + cl) * s.k * s.k;
            s.for_each_source(p, q, [&](int a, int b, int i, int j) {
                acc += wo_c[a * s.k + b] * dyo[int64_t(i) * wo + j];
            });
        }
        v = run_step(v, k, dx[idx], acc, it.mode);
    }
    dx[idx] = v;
}

// One block per (plane, dx tile) of run blockIdx.y; thread e's dx elements are e, e + blockDim.x,
// ... of the tile (q fastest), kept in v[] across the run's items.
__global__ void conv2d_bwd_data_kernel_v2(const __grid_constant__ DataRuns runs, Conv2dShape s,
                                          ConvTile t) {
    extern __shared__ float smem[];
    const int first = runs.first[blockIdx.y], count = runs.count[blockIdx.y];
    const DwBlock blk = dw_block(t, s.c_in);
    const int ho = s.ho(), wo = s.wo();
    const int p0 = blk.row0, q0 = blk.col0;
    // First output row and column the tile reads; every tap's numerator is >= i0 * stride.
    const int i0 = floor_div(p0 + s.pad - (s.k - 1) * s.dil, s.stride);
    const int j0 = floor_div(q0 + s.pad - (s.k - 1) * s.dil, s.stride);
    const float* sdy = smem;                     // the window, zero outside dy
    const float* sw = smem + t.win_h * t.win_w;  // this channel's k x k weights
    float* dxp = runs.item[first].dx + blk.plane * s.h * s.w;

    float v[kSlots] = {};
    for (int k = 0; k < count; ++k) {
        const ConvDataGradItem& it = runs.item[first + k];
        if (k > 0) __syncthreads();  // the previous item's window has been read
        stage_window(smem, t, it.dy + blk.plane * ho * wo, ho, wo, i0, j0,
                     it.w + int64_t(blk.c) * s.k * s.k, s.k * s.k);
#pragma unroll
        for (int slot = 0; slot < kSlots; ++slot) {
            const int e = int(threadIdx.x) + slot * int(blockDim.x);
            const int p = p0 + e / t.tw, q = q0 + e % t.tw;
            if (e >= t.th * t.tw || p >= s.h || q >= s.w) continue;
            float acc = 0.f;
            for (int a = 0; a < s.k; ++a) {
                const int u = p + s.pad - a * s.dil - i0 * s.stride;  // >= 0 by the choice of i0
                if (u % s.stride != 0) continue;
                const float* row = sdy + (u / s.stride) * t.win_w;
                for (int b = 0; b < s.k; ++b) {
                    const int vq = q + s.pad - b * s.dil - j0 * s.stride;
                    if (vq % s.stride != 0) continue;
                    acc += sw[a * s.k + b] * row[vq / s.stride];
                }
            }
            v[slot] = run_step(v[slot], k, dxp[int64_t(p) * s.w + q], acc, it.mode);
        }
    }
#pragma unroll
    for (int slot = 0; slot < kSlots; ++slot) {
        const int e = int(threadIdx.x) + slot * int(blockDim.x);
        const int p = p0 + e / t.tw, q = q0 + e % t.tw;
        if (e < t.th * t.tw && p < s.h && q < s.w) dxp[int64_t(p) * s.w + q] = v[slot];
    }
}

const auto dx_of = [](const ConvDataGradItem& it) { return it.dx; };

void conv2d_bwd_data_group_v1(std::span<const ConvDataGradItem> items, const Conv2dShape& s,
                              Stream st) {
    s.validate();
    if (s.in_elems() == 0) return;
    const unsigned blocks = unsigned(blocks_for(s.in_elems(), kBlock));
    for_each_run_chunk<kConvGroupChunk>(items, dx_of, [&](const DataRuns& t, unsigned runs) {
        conv2d_bwd_data_kernel_v1<<<dim3(blocks, runs), kBlock, 0, st>>>(t, s);
        CUDARTS_CHECK_LAUNCH();
    });
}

void conv2d_bwd_data_group_v2(std::span<const ConvDataGradItem> items, const Conv2dShape& s,
                              Stream st) {
    check_conv_supported(s, supports_data_v2, "conv2d_bwd_data v2");
    if (s.in_elems() == 0) return;
    const ConvTile tile = plan_data_tile(s);
    static_assert(kSlots * kBlock >= kTileMax * kTileMax);
    const unsigned blocks =
        unsigned(blocks_for(int64_t(s.n) * s.c_in * tile.tiles_h * tile.tiles_w, 1));
    for_each_run_chunk<kConvGroupChunk>(items, dx_of, [&](const DataRuns& t, unsigned runs) {
        conv2d_bwd_data_kernel_v2<<<dim3(blocks, runs), tile.threads(kBlock), tile.smem, st>>>(
            t, s, tile);
        CUDARTS_CHECK_LAUNCH();
    });
}

void conv2d_bwd_data_cublas(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                            GradMode mode, Stream st) {
    const int64_t hw = checked_gemm_plane(s, "conv2d_bwd_data cublas");
    if (s.in_elems() == 0) return;
    // Row-major dx_n (c_in x hw) = W^T (c_in x c_out) dy_n (c_out x hw).
    gemm_rm_strided_batched(true, false, s.c_in, int(hw), s.c_out, w, s.c_in, 0, dy, int(hw),
                            s.c_out * hw, mode, dx, int(hw), s.c_in * hw, s.n, st);
}

// The single launches: groups of one.
template <void (*Group)(std::span<const ConvDataGradItem>, const Conv2dShape&, Stream)>
void conv2d_bwd_data_one(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                         GradMode mode, Stream st) {
    const ConvDataGradItem it{dx, dy, w, mode};
    Group({&it, 1}, s, st);
}

// cuBLAS's group: a call per item, in order (which is what items sharing dx need).
void conv2d_bwd_data_group_cublas(std::span<const ConvDataGradItem> items, const Conv2dShape& s,
                                  Stream st) {
    for (const ConvDataGradItem& it : items)
        conv2d_bwd_data_cublas(it.dx, it.dy, it.w, s, it.mode, st);
}

void conv2d_bwd_data_group_pw(std::span<const ConvDataGradItem> items, const Conv2dShape& s,
                              Stream st) {
    pointwise_group(items, s, true, st);
}

const Conv2dBwdDataVersion kBwdDataVersions[] = {
    {"v1", supports_any, conv2d_bwd_data_one<conv2d_bwd_data_group_v1>, conv2d_bwd_data_group_v1},
    {"v2", supports_data_v2, conv2d_bwd_data_one<conv2d_bwd_data_group_v2>,
     conv2d_bwd_data_group_v2},
    {"cublas", supports_cublas, conv2d_bwd_data_cublas, conv2d_bwd_data_group_cublas},
    {"pw", supports_pointwise, conv2d_bwd_data_one<conv2d_bwd_data_group_pw>,
     conv2d_bwd_data_group_pw},
};

}  // namespace

void conv2d_bwd_data(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                     GradMode mode, Stream st) {
    s.validate();
    preferred_version(conv2d_bwd_data_versions(), s).launch(dx, dy, w, s, mode, st);
}

void conv2d_group_bwd_data(std::span<const ConvDataGradItem> items, const Conv2dShape& s,
                           Stream st) {
    s.validate();
    preferred_version(conv2d_bwd_data_versions(), s).launch_group(items, s, st);
}

std::span<const Conv2dBwdDataVersion> conv2d_bwd_data_versions() { return kBwdDataVersions; }

}  // namespace cudarts::cuda
