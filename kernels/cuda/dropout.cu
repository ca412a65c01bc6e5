// Broadcast multiply by a mask on the GPU, the CUDA twin of kernels/cpu/dropout.cpp: x viewed as
// (outer, mid, inner) is scaled by mask[m] along the middle axis (kernels/dropout.h lists the
// dropout variants this one arithmetic serves).
// One thread per element of the flat array in a grid-stride loop; the mask index is recovered as
// (i / inner) % mid. DRAM sees x (dy) once and y (dx) once, 8 B per element (12 B accumulating),
// plus the mask: 4 B more per element for plain dropout (inner = 1, a mask entry per element),
// next to nothing for drop path (inner = C*H*W: a warp shares one entry, served from L1).
// Bandwidth-bound; the two 64-bit divisions per element cost instructions, not bytes.
// A product rounds once, so forward and overwrite backward equal the CPU bit for bit.
//   v1  one thread per element, grid-stride (the only version)
#include <algorithm>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/dropout.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kMaxGrid = 4096;  // grid-stride cap: enough blocks to fill 132 SMs several times

int grid_for(int64_t n) { return std::min(blocks_for(n, kBlock), kMaxGrid); }

// y[i] = x[i] * mask[(i / inner) % mid] over all outer * mid * inner elements.
__global__ void __launch_bounds__(kBlock)
    broadcast_mul_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x,
                                const float* __restrict__ mask, int64_t total, int64_t mid,
                                int64_t inner) {
    for (int64_t i = first_index(); i < total; i += grid_stride())
        y[i] = x[i] * mask[(i / inner) % mid];
}

// dx[i] = dy[i] * mask[(i / inner) % mid], written per mode.
__global__ void __launch_bounds__(kBlock)
    broadcast_mul_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy,
                                const float* __restrict__ mask, int64_t total, int64_t mid,
                                int64_t inner, GradMode mode) {
    for (int64_t i = first_index(); i < total; i += grid_stride())
        write_grad(dx[i], dy[i] * mask[(i / inner) % mid], mode);
}

}  // namespace

void broadcast_mul_fwd(float* y, const float* x, const float* mask, const BroadcastShape& s,
                       Stream st) {
    s.validate();
    const int64_t total = s.elems();
    if (total == 0) return;  // also keeps the divisions by inner and mid away from zero
    broadcast_mul_fwd_kernel_v1<<<grid_for(total), kBlock, 0, st>>>(y, x, mask, total, s.mid,
                                                                    s.inner);
    CUDARTS_CHECK_LAUNCH();
}

void broadcast_mul_bwd(float* dx, const float* dy, const float* mask, const BroadcastShape& s,
                       GradMode mode, Stream st) {
    s.validate();
    const int64_t total = s.elems();
    if (total == 0) return;
    broadcast_mul_bwd_kernel_v1<<<grid_for(total), kBlock, 0, st>>>(dx, dy, mask, total, s.mid,
                                                                    s.inner, mode);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace cudarts::cuda
