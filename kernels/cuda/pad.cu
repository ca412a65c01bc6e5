// Zero padding and the per-channel bias add on the GPU, NCHW fp32: the CUDA twins of
// kernels/cpu/pad.cpp (kernels/pad.h).
// pad2d: the plane window kernels of kernels/cuda/resample.cu at (-top, -left), stride 1 (forward
// one thread per output, x inside the window and 0 outside; backward a gather, one thread per dx).
// channel_bias forward and dx: one thread per element. db: one block of kReduceBlock threads per
// channel; thread t adds the channel's terms t, t + kReduceBlock, ... in that order
// (block_stride_partial, thread_index.h), then cub::BlockReduce combines the partials in a fixed
// tree and thread 0 writes db[c]. No atomics: the same bits on every run.
// Traffic: every kernel reads each input float once and writes each output once (dx reads dx too
// when accumulating): bandwidth-bound. db runs only c blocks (16 to 64 in a child network), fewer
// than the device's SMs; a split over several blocks per channel is the next step if it shows up.
//   v1  one thread per element; one block per channel for db (the only version)
#include <cub/block/block_reduce.cuh>  // deterministic block-wide tree reduction

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/pad.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;        // elementwise kernels
constexpr int kReduceBlock = 256;  // threads per channel in the db reduction
constexpr int kUnroll = 4;         // loads in flight per thread in the db reduction

// One thread per element: y = x + b[channel].
__global__ void __launch_bounds__(kBlock)
    channel_bias_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x,
                               const float* __restrict__ b, int c, int hw, int64_t elems) {
    const int64_t k = first_index();
    if (k >= elems) return;
    y[k] = x[k] + b[(k / hw) % c];
}

// One thread per element: dx = dy.
__global__ void __launch_bounds__(kBlock)
    copy_grad_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy, GradMode mode,
                        int64_t elems) {
    const int64_t k = first_index();
    if (k >= elems) return;
    write_grad(dx[k], dy[k], mode);
}

// One block per channel (blockIdx.x): db[ch] = the sum of dy over samples and positions.
__global__ void __launch_bounds__(kReduceBlock)
    channel_bias_bwd_bias_kernel_v1(float* __restrict__ db, const float* __restrict__ dy,
                                    ChannelBiasShape s, GradMode mode) {
    const int ch = int(blockIdx.x);
    // Term e of the channel: sample e / hw, position e % hw.
    const float partial =
        block_stride_partial<kReduceBlock, kUnroll>(s.per_channel(), [&](int64_t e) {
            const int64_t i = e / s.hw;
            return dy[(i * s.c + ch) * s.hw + (e - i * s.hw)];
        });
    using Reduce = cub::BlockReduce<float, kReduceBlock>;
    __shared__ typename Reduce::TempStorage temp;
    const float total = Reduce(temp).Sum(partial);  // valid in thread 0 only
    if (threadIdx.x == 0) write_grad(db[ch], total, mode);
}

}  // namespace

void pad2d_fwd(float* y, const float* x, const Pad2dShape& s, Stream st) {
    plane_window_fwd(y, x, s.window(), st);
}

void pad2d_bwd(float* dx, const float* dy, const Pad2dShape& s, GradMode mode, Stream st) {
    plane_window_bwd(dx, dy, s.window(), mode, st);
}

void channel_bias_fwd(float* y, const float* x, const float* b, const ChannelBiasShape& s,
                      Stream st) {
    s.validate();
    const int64_t elems = s.elems();
    if (elems == 0) return;
    channel_bias_fwd_kernel_v1<<<blocks_for(elems, kBlock), kBlock, 0, st>>>(y, x, b, s.c, s.hw,
                                                                             elems);
    CUDARTS_CHECK_LAUNCH();
}

void channel_bias_bwd_data(float* dx, const float* dy, const ChannelBiasShape& s, GradMode mode,
                           Stream st) {
    s.validate();
    const int64_t elems = s.elems();
    if (elems == 0) return;
    copy_grad_kernel_v1<<<blocks_for(elems, kBlock), kBlock, 0, st>>>(dx, dy, mode, elems);
    CUDARTS_CHECK_LAUNCH();
}

void channel_bias_bwd_bias(float* db, const float* dy, const ChannelBiasShape& s, GradMode mode,
                           Stream st) {
    s.validate();
    // No early return on an empty batch: db is still written (0), as the CPU does.
    if (s.c == 0) return;
    channel_bias_bwd_bias_kernel_v1<<<s.c, kReduceBlock, 0, st>>>(db, dy, s, mode);
    CUDARTS_CHECK_LAUNCH();
}

}  // namespace cudarts::cuda
