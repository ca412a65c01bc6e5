// The index arithmetic and the warp sum the CUDA kernels share; include only from .cu files.
// first_index and grid_stride drive a grid-stride loop,
//     for (int64_t i = first_index(); i < n; i += grid_stride())
// warp_sum returns the sum over the 32 lanes of a warp to every lane (the butterfly pairs the
// same terms in every lane, so all lanes hold the same bits), and block_stride_partial (over
// [0, n)) and range_stride_partial (over [begin, end)) are one thread's part of a block-wide sum,
// for a block reduction to finish.
#pragma once

#include <cstdint>

namespace cudarts::cuda {

inline constexpr int kWarpSize = 32;

__device__ inline int64_t first_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

// A flat NCHW index split into its plane p (n*C + c), its offset r within a plane of `rows` x
// `cols` elements, and r's row i and column j.
struct PlaneIndex {
    int64_t p;
    int r, i, j;
};

__device__ inline PlaneIndex split_index(int64_t e, int rows, int cols) {
    const int plane = rows * cols;
    const int64_t p = e / plane;
    const int r = int(e - p * plane);
    const int i = r / cols;
    return {p, r, i, r - i * cols};
}

__device__ inline float warp_sum(float v) {
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Thread threadIdx.x's share of a sum over i in [begin, end) taken by one block of Block threads:
// term(i) for i = begin + threadIdx.x, + Block, + 2 Block, ... in that order, in groups of Unroll
// whose terms are all computed (their loads in flight together) before they are added; the tail
// one at a time.
template <int Block, int Unroll, class Term>
__device__ float range_stride_partial(int64_t begin, int64_t end, const Term& term) {
    float partial = 0.f;
    int64_t i = begin + threadIdx.x;
    for (; i + (Unroll - 1) * int64_t(Block) < end; i += Unroll * int64_t(Block)) {
        float v[Unroll];
#pragma unroll
        for (int u = 0; u < Unroll; ++u) v[u] = term(i + u * Block);
#pragma unroll
        for (int u = 0; u < Unroll; ++u) partial += v[u];
    }
    for (; i < end; i += Block) partial += term(i);
    return partial;
}

// The same over i < n.
template <int Block, int Unroll, class Term>
__device__ float block_stride_partial(int64_t n, const Term& term) {
    return range_stride_partial<Block, Unroll>(0, n, term);
}

}  // namespace cudarts::cuda
