// Channel concatenation and slicing on the GPU, NCHW fp32: the CUDA twins of
// kernels/cpu/concat.cpp. The range [c_begin, c_begin + c_part) of sample i is one contiguous run
// of c_part*hw floats, at (i*c_total + c_begin)*hw in the whole tensor and at i*c_part*hw in the
// part, so both directions are n strided copies with GradMode applied (= or +=).
// Thread mapping: blockIdx.x and threadIdx.x cover one run, blockIdx.y strides over the samples,
// so no thread divides to find its sample and consecutive threads touch consecutive floats.
// Traffic: the part is read once and written once (8 B per element, plus the destination's read
// when accumulating): a pure copy, bandwidth-bound.
//   v1  one thread per element of a run, scalar loads (the only version)
#include <algorithm>

#include "kernels/check.h"
#include "kernels/concat.h"
#include "kernels/cuda/cuda_check.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kMaxGridY = 65535;  // CUDA's limit on gridDim.y

// y[:, c_begin:c_begin+c_part] (op)= x, one thread per element k of a run, every sample.
__global__ void __launch_bounds__(kBlock)
    channel_insert_kernel_v1(float* __restrict__ y, const float* __restrict__ x,
                             ChannelRangeShape s, GradMode mode) {
    const int64_t run = int64_t(s.c_part) * s.hw;
    const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (k >= run) return;
    for (int64_t i = blockIdx.y; i < s.n; i += gridDim.y)
        write_grad(y[(i * s.c_total + s.c_begin) * s.hw + k], x[i * run + k], mode);
}

// x (op)= y[:, c_begin:c_begin+c_part], the same mapping.
__global__ void __launch_bounds__(kBlock)
    channel_extract_kernel_v1(float* __restrict__ x, const float* __restrict__ y,
                              ChannelRangeShape s, GradMode mode) {
    const int64_t run = int64_t(s.c_part) * s.hw;
    const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (k >= run) return;
    for (int64_t i = blockIdx.y; i < s.n; i += gridDim.y)
        write_grad(x[i * run + k], y[(i * s.c_total + s.c_begin) * s.hw + k], mode);
}

dim3 grid_for(const ChannelRangeShape& s) {
    return dim3(unsigned(blocks_for(int64_t(s.c_part) * s.hw, kBlock)),
                unsigned(std::min(s.n, kMaxGridY)));
}

}  // namespace

void channel_insert(float* y, const float* x, const ChannelRangeShape& s, GradMode mode,
                    Stream st) {
    s.validate();
    if (s.part_elems() == 0) return;
    channel_insert_kernel_v1<<<grid_for(s), kBlock, 0, st>>>(y, x, s, mode);
    CUDARTS_CHECK_LAUNCH();
}

void channel_extract(float* x, const float* y, const ChannelRangeShape& s, GradMode mode,
                     Stream st) {
    s.validate();
    if (s.part_elems() == 0) return;
    channel_extract_kernel_v1<<<grid_for(s), kBlock, 0, st>>>(x, y, s, mode);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace cudarts::cuda
