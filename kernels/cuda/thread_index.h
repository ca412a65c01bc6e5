// The index arithmetic and the warp sum the CUDA kernels share; include only from .cu files.
// first_index and grid_stride drive a grid-stride loop,
//     for (int64_t i = first_index(); i < n; i += grid_stride())
// and warp_sum returns the sum over the 32 lanes of a warp to every lane (the butterfly pairs the
// same terms in every lane, so all lanes hold the same bits).
#pragma once

#include <cstdint>

namespace cudarts::cuda {

inline constexpr int kWarpSize = 32;

__device__ inline int64_t first_index() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

__device__ inline float warp_sum(float v) {
#pragma unroll
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

}  // namespace cudarts::cuda
