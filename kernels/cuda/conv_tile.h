// The shared-memory tile planner of the depthwise v2 convolution kernels (conv_fwd.cu,
// conv_bwd_data.cu, conv_bwd_weight.cu). A block owns a th x tw tile of one (n, c) plane and stages
// in shared memory the window of the other tensor that the tile reads; the planner starts from the
// whole plane (up to kTileMax on each edge) and halves the longer edge while the window overflows
// kSmemMax, down to a single element. A window too big even then leaves the shape to the direct v1
// kernels. dw_block and stage_window are the start both v2 kernels share: find the block's plane
// and tile, then stage the window and the channel's weights. check_conv_supported and
// checked_gemm_plane are the shape checks the backward launchers (conv_bwd_data.cu,
// conv_bwd_weight.cu) share. Include only from .cu files.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "kernels/check.h"
#include "kernels/conv.h"

namespace cudarts::cuda {

inline constexpr int kTileMax = 32;            // tile edge: a whole DARTS plane (32, 16, 8)
inline constexpr size_t kSmemMax = 32 * 1024;  // shared window budget, under the 48 KiB default

// Input rows (or columns) that out_edge consecutive outputs of s read: their taps' span.
constexpr int input_extent(const Conv2dShape& s, int out_edge) {
    return (out_edge - 1) * s.stride + (s.k - 1) * s.dil + 1;
}

struct ConvTile {
    int th, tw;            // tile edges
    int tiles_h, tiles_w;  // tiles covering the plane
    int win_h, win_w;      // the window of the other tensor that one tile reads
    size_t smem;           // the window and the extra floats staged with it, bytes

    // Whole warps, no more threads than the tile has elements, at most `block`: an 8 x 8 plane
    // gets 64 threads, not 256.
    constexpr int threads(int block) const { return std::min(block, (th * tw + 31) / 32 * 32); }
};

// The tile of a plane_h x plane_w plane whose window of extent(th) x extent(tw) floats, plus
// extra_floats more (the k x k weights), fits kSmemMax where any does. extent(edge) is how many
// rows (or columns) of the other tensor a tile edge of `edge` outputs reads.
template <class Extent>
constexpr ConvTile plan_conv_tile(int plane_h, int plane_w, Extent extent, size_t extra_floats) {
    const auto bytes = [&](int th, int tw) {
        return (size_t(extent(th)) * size_t(extent(tw)) + extra_floats) * sizeof(float);
    };
    int th = std::max(1, std::min(plane_h, kTileMax));
    int tw = std::max(1, std::min(plane_w, kTileMax));
    while (bytes(th, tw) > kSmemMax && (th > 1 || tw > 1)) {
        if (th >= tw)
            th = (th + 1) / 2;
        else
            tw = (tw + 1) / 2;
    }
    return {.th = th,
            .tw = tw,
            .tiles_h = (plane_h + th - 1) / th,
            .tiles_w = (plane_w + tw - 1) / tw,
            .win_h = extent(th),
            .win_w = extent(tw),
            .smem = bytes(th, tw)};
}

// The block of a depthwise v2 grid, blockIdx.x = plane * tiles + tile: its (n, c) plane
// n * c_in + c, the channel c, and the first row and column of its tile.
struct DwBlock {
    int64_t plane;
    int c;
    int row0, col0;
};

__device__ inline DwBlock dw_block(const ConvTile& t, int c_in) {
    const int tiles = t.tiles_h * t.tiles_w;
    const int64_t plane = blockIdx.x / tiles;
    const int tile = int(blockIdx.x % tiles);
    return {plane, int(plane % c_in), tile / t.tiles_w * t.th, tile % t.tiles_w * t.tw};
}

// Stages in smem the win_h x win_w window at (r0, c0) of a rows x cols plane, zero where the
// window leaves the plane, followed by the channel's kk weights wc; then waits for the block.
__device__ inline void stage_window(float* smem, const ConvTile& t, const float* __restrict__ plane,
                                    int rows, int cols, int r0, int c0,
                                    const float* __restrict__ wc, int kk) {
    for (int e = threadIdx.x; e < t.win_h * t.win_w; e += blockDim.x) {
        const int r = r0 + e / t.win_w, q = c0 + e % t.win_w;
        smem[e] = (r >= 0 && r < rows && q >= 0 && q < cols) ? plane[int64_t(r) * cols + q] : 0.f;
    }
    float* sw = smem + t.win_h * t.win_w;
    for (int e = threadIdx.x; e < kk; e += blockDim.x) sw[e] = wc[e];
    __syncthreads();
}

// Validates s, then checks that the version `what` supports it.
inline void check_conv_supported(const Conv2dShape& s, bool (*supports)(const Conv2dShape&),
                                 const char* what) {
    s.validate();
    CUDARTS_CHECK(supports(s), what << " does not support " << s);
}

// What the cuBLAS-shaped backward versions check: s is valid and pointwise, and its plane h*w
// (returned) fits a GEMM dimension.
inline int64_t checked_gemm_plane(const Conv2dShape& s, const char* what) {
    s.validate();
    CUDARTS_CHECK(s.is_pointwise(), what << " does not support " << s);
    const int64_t hw = int64_t(s.h) * s.w;
    CUDARTS_CHECK(hw <= INT_MAX, what << ": h*w exceeds a GEMM dimension in " << s);
    return hw;
}

}  // namespace cudarts::cuda
