// The shape lists the kernel benchmark times and the CUDA-vs-CPU suites check, written once: odd
// shapes that exercise the edges (N=3, C=5, 7x7, 17x34, strides that leave a remainder), then the
// real DARTS CIFAR shapes of the search network at C=16, whose three stages are 32x32 with C=16,
// 16x16 with C=32 and 8x8 with C=64 (a reduction cell halves H and W and doubles C). The DARTS
// lists take their batch as a parameter: the benchmark times the paper's 64 (kPaperBatch); the
// tests take theirs from tests/util.h's big_batch(), so that an emulated GPU can run them small.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/concat.h"
#include "kernels/conv.h"
#include "kernels/pool.h"
#include "kernels/resample.h"

namespace cudarts::shapes {

inline constexpr int kPaperBatch = 64;  // DARTS' CIFAR search batch

// One stage of the search network: C channels on an hw x hw plane.
struct DartsPlane {
    int c, hw;
    int64_t elems(int n) const { return int64_t(n) * c * hw * hw; }
    std::string name(int n) const;  // "DARTS N=64 C=16 32x32"
};
inline constexpr DartsPlane kDartsPlanes[] = {{16, 32}, {32, 16}, {64, 8}};

// Weights of the DARTS search network at C=16, 8 cells, 10 classes: the optimizer's and the
// gradient clip's flat buffer.
inline constexpr int64_t kSearchNetworkWeights = 1930618;

// The depthwise halves of sep_conv (dil 1) and dil_conv (dil 2) at each stage: k in {3, 5},
// stride in {1, 2}, "same" padding dil (k - 1) / 2, groups = C.
std::vector<Conv2dShape> darts_depthwise(int n, int dil);
// The 1x1 convolutions at each stage (the pointwise halves and the preprocessing ReLUConvBNs).
std::vector<Conv2dShape> darts_pointwise(int n);
// Awkward shapes covering every path: depthwise with each stride, dilation and kernel size,
// tiles with halos (planes larger than v2's 32 x 32 tile, and windows so wide that v2 halves
// the tile), k = 7 and 9 (v2 bwd_weight stops at 7), dense and grouped (v1 only), and 1x1 both
// through cuBLAS (stride 1) and through v1 (stride 2).
std::vector<Conv2dShape> odd_conv2d();
// Every convolution of the search network: the depthwise shapes of both dilations, with the
// reduction cells' true stride-2 inputs (C=32 on 32x32, C=64 on 16x16); the 1x1 shapes with the
// 48-to-16 preprocessing of the first cell; FactorizedReduce's 1x1 stride-2 conv; the 3x3 stem.
std::vector<Conv2dShape> darts_conv2d(int n);

// The 3x3 pools at each stage (pad 1, stride 1 in normal cells, 2 in reduction cells).
std::vector<Pool2dShape> darts_pool2d(int n);
// Odd pools (clipping, uneven strides, other windows, rows no window covers), then darts_pool2d.
std::vector<Pool2dShape> pool2d(int n);

// Odd sizes at offsets 0, 1 and 2, the identity (stride 1), then FactorizedReduce's two stride-2
// branches (offsets 0 and 1) at each stage.
std::vector<SubsampleShape> subsample(int n);

// Odd channel ranges (first, middle, last, one channel, hw = 1, 17x34), then the cell outputs at
// each stage: four intermediate nodes of C channels concatenated into 4C, each node one insert.
std::vector<ChannelRangeShape> channel_range(int n);

// Odd 2-D shapes, 1-D ones (hw = 1; two values per channel is the least training allows) with a
// classifier-sized one at batch n (at least 2), one whose channels split unevenly over a CUDA
// cluster of 8 x 256 threads, then the activations at each stage.
std::vector<BatchNormShape> batch_norm(int n);

}  // namespace cudarts::shapes
