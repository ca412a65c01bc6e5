// The shared-memory tile planner of the depthwise v2 convolution kernels (conv_fwd.cu,
// conv_bwd.cu). A block owns a th x tw tile of one (n, c) plane and stages in shared memory the
// window of the other tensor that the tile reads; the planner starts from the whole plane (up to
// kTileMax on each edge) and halves the longer edge while the window overflows kSmemMax, down to
// a single element. A window too big even then leaves the shape to the direct v1 kernels.
#pragma once

#include <algorithm>
#include <cstddef>

#include "kernels/conv.h"

namespace cudarts::cuda {

inline constexpr int kTileMax = 32;            // tile edge: a whole DARTS plane (32, 16, 8)
inline constexpr size_t kSmemMax = 32 * 1024;  // shared window budget, under the 48 KiB default

struct ConvTile {
    int th, tw;            // tile edges
    int tiles_h, tiles_w;  // tiles covering the plane

    // Whole warps, no more threads than the tile has elements, at most `block`: an 8 x 8 plane
    // gets 64 threads, not 256.
    constexpr int threads(int block) const { return std::min(block, (th * tw + 31) / 32 * 32); }
};

// Input rows (or columns) that out_edge consecutive outputs of s read: their taps' span.
constexpr int input_extent(const Conv2dShape& s, int out_edge) {
    return (out_edge - 1) * s.stride + (s.k - 1) * s.dil + 1;
}

// The tile of a plane_h x plane_w plane whose window, window_bytes(th, tw) bytes, fits kSmemMax
// where any does.
template <class WindowBytes>
constexpr ConvTile plan_conv_tile(int plane_h, int plane_w, WindowBytes window_bytes) {
    int th = std::max(1, std::min(plane_h, kTileMax));
    int tw = std::max(1, std::min(plane_w, kTileMax));
    while (window_bytes(th, tw) > kSmemMax && (th > 1 || tw > 1)) {
        if (th >= tw)
            th = (th + 1) / 2;
        else
            tw = (tw + 1) / 2;
    }
    return {th, tw, (plane_h + th - 1) / th, (plane_w + tw - 1) / tw};
}

}  // namespace cudarts::cuda
