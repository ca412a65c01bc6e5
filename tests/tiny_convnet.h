// A small convnet built from the DARTS op set, for the proof that the engine learns
// (tests/test_learning.cpp) and its CUDA-vs-CPU twin (tests/test_autograd_cuda.cpp):
//   stem:   conv 3x3 (in -> 8, pad 1) -> BN (affine) -> ReLU
//   sep:    depthwise 3x3 dilation 2 (pad 2) -> conv 1x1 (8 -> 16) -> BN (non-affine) -> ReLU
//   pool:   max pool 3x3 stride 2 pad 1, and in parallel avg pool 3x3 stride 2 pad 1
//   mix:    softmax(alpha)-weighted mixed sum of the two pools (a 2-candidate DARTS edge)
//   head:   global average pool -> linear (16 -> classes)
// Parameter names follow PyTorch conventions so its weights could be saved as a state_dict.
#pragma once

#include "autograd/ops.h"
#include "models/nn/params.h"

namespace cudarts {

class TinyConvNet {
public:
    TinyConvNet(int in_channels, int classes, Device dev, uint64_t seed);
    Var forward(const Var& x, bool training);  // logits (n, classes)
    ParamStore& params() { return params_; }
    const Var& alpha() const { return alpha_; }

private:
    ParamStore params_;
    Var alpha_;  // (2) mixing logits, outside the weight buffer like DARTS' alphas
    Tensor stem_rm_, stem_rv_, sep_rm_, sep_rv_;  // BN running statistics
};

}  // namespace cudarts
