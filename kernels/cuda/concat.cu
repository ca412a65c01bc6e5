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
#include "kernels/cuda/thread_index.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kMaxGridY = 65535;  // CUDA's limit on gridDim.y

// One thread per element k of a run, every sample. kInsert: y[:, c_begin:c_begin+c_part] (op)= x
// (the whole tensor y gets the part x); otherwise x (op)= y[:, c_begin:c_begin+c_part].
template <bool kInsert>
__global__ void __launch_bounds__(kBlock)
    channel_copy_kernel_v1(float* __restrict__ dst, const float* __restrict__ src,
                           ChannelRangeShape s, GradMode mode) {
    const int64_t run = int64_t(s.c_part) * s.hw;
    const int64_t k = first_index();
    if (k >= run) return;
    for (int64_t i = blockIdx.y; i < s.n; i += gridDim.y) {
        const int64_t whole = (i * s.c_total + s.c_begin) * s.hw + k, part = i * run + k;
        write_grad(dst[kInsert ? whole : part], src[kInsert ? part : whole], mode);
    }
}

dim3 grid_for(const ChannelRangeShape& s) {
    return dim3(unsigned(blocks_for(int64_t(s.c_part) * s.hw, kBlock)),
                unsigned(std::min(s.n, kMaxGridY)));
}

// dst (op)= src between the part and the range of the whole tensor, kInsert as in the kernel.
template <bool kInsert>
void channel_copy(float* dst, const float* src, const ChannelRangeShape& s, GradMode mode,
                  Stream st) {
    s.validate();
    if (s.part_elems() == 0) return;
    channel_copy_kernel_v1<kInsert><<<grid_for(s), kBlock, 0, st>>>(dst, src, s, mode);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace

void channel_insert(float* y, const float* x, const ChannelRangeShape& s, GradMode mode,
                    Stream st) {
    channel_copy<true>(y, x, s, mode, st);
}

void channel_extract(float* x, const float* y, const ChannelRangeShape& s, GradMode mode,
                     Stream st) {
    channel_copy<false>(x, y, s, mode, st);
}

}  // namespace cudarts::cuda
