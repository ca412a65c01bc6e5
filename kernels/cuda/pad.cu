// Zero padding and the per-channel bias add on the GPU, NCHW fp32: the CUDA twins of
// kernels/cpu/pad.cpp (kernels/pad.h).
// pad2d forward: one thread per output element, x's value inside the window and 0 outside it.
// pad2d backward: one thread per dx element, the dy at its place in the window (a gather), so
// every dx element is written exactly once and both GradModes need no clearing pass.
// channel_bias forward and dx: one thread per element. db: one block of kReduceBlock threads per
// channel; thread t adds the channel's terms t, t + kReduceBlock, ... in that order
// (block_stride_partial, thread_index.h), then cub::BlockReduce combines the partials in a fixed
// tree and thread 0 writes db[c]. No atomics: the same bits on every run.
// Traffic: every kernel reads each input float once and writes each output once (dx reads dx too
// when accumulating): bandwidth-bound. db runs only c blocks (16 to 64 in a child network), fewer
// than the device's SMs; a split over several blocks per channel is the next step if it shows up.
//   v1  one thread per element; one block per channel for db (the only version)
#include <climits>
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

// One thread per output: x at (i - top, j - left) inside the window, 0 outside.
__global__ void __launch_bounds__(kBlock)
    pad2d_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, Pad2dShape s,
                        int64_t outputs) {
    const int64_t o = first_index();
    if (o >= outputs) return;
    const int wo = s.wo();
    const int out_plane = s.ho() * wo;
    const int64_t p = o / out_plane;
    const int r = int(o - p * out_plane);
    const int ih = r / wo - s.top, iw = r % wo - s.left;  // the x position shown, if inside
    const bool inside = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w;
    y[o] = inside ? x[p * s.h * s.w + ih * s.w + iw] : 0.f;
}

// One thread per input element: dy at its place in the padded plane.
__global__ void __launch_bounds__(kBlock)
    pad2d_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy, Pad2dShape s,
                        GradMode mode, int64_t inputs) {
    const int64_t e = first_index();
    if (e >= inputs) return;
    const int in_plane = s.h * s.w;
    const int64_t p = e / in_plane;
    const int r = int(e - p * in_plane);
    const int ih = r / s.w, iw = r - ih * s.w;
    const int wo = s.wo();
    write_grad(dx[e], dy[p * s.ho() * wo + (s.top + ih) * wo + s.left + iw], mode);
}

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

// The pad kernels index within a plane with int; planes themselves are counted in int64.
void check_planes_fit_int(const Pad2dShape& s) {
    CUDARTS_CHECK(int64_t(s.ho()) * s.wo() <= INT_MAX,
                  "pad2d (cuda): a padded plane must hold at most INT_MAX elements in " << s);
}

}  // namespace

void pad2d_fwd(float* y, const float* x, const Pad2dShape& s, Stream st) {
    s.validate();
    check_planes_fit_int(s);
    const int64_t outputs = s.out_elems();
    if (outputs == 0) return;
    pad2d_fwd_kernel_v1<<<blocks_for(outputs, kBlock), kBlock, 0, st>>>(y, x, s, outputs);
    CUDARTS_CHECK_LAUNCH();
}

void pad2d_bwd(float* dx, const float* dy, const Pad2dShape& s, GradMode mode, Stream st) {
    s.validate();
    check_planes_fit_int(s);
    const int64_t inputs = s.in_elems();
    if (inputs == 0) return;
    pad2d_bwd_kernel_v1<<<blocks_for(inputs, kBlock), kBlock, 0, st>>>(dx, dy, s, mode, inputs);
    CUDARTS_CHECK_LAUNCH();
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
