// The child network of an ENAS macro architecture, as Katib's trial builds it (reference/katib.md
// 2.5) but with every `opt_params` entry honoured.
//
// Layer 0 is the input image. Layer l (1..n) reads layer l-1 and every earlier layer whose skip bit
// in row l is 1, in that order; several inputs are zero-padded to the largest height and width
// (symmetric, an odd extra row or column at the bottom or right) and concatenated on channels.
// Then, by the op's type:
//   convolution            ReLU, conv k x k to num_filter (Keras 'same' padding, with bias), BN
//   separable_convolution  ReLU, depthwise k x k x multiplier (the stride here), pointwise 1 x 1
//                          to num_filter with bias, BN
//   depthwise_convolution  ReLU, depthwise k x k x multiplier with bias, BN
//   reduction              max or average pool, 'valid' padding; the identity on a map whose
//                          height or width is 1 (Katib warns and does the same)
// After layer n: global average pool and a linear layer to the classes (softmax in the loss).
// 'same' padding is Keras's: output ceil(H / s), the padding (out - 1) s + k - H split with the
// extra row at the bottom, so a stride-2 convolution on an even map pads asymmetrically. BN is
// Keras's (momentum 0.99, i.e. 0.01 in PyTorch's convention, epsilon 1e-3); weights are Glorot
// uniform, biases zero.
//
// The plan (shapes of every layer) is computed first, so a bad architecture for its input is an
// InputError before any weight exists. The forward takes each layer's weights as Vars, so the same
// code runs a child with its own weights (ChildNetwork) and one that reads the shared weights of
// the `enas` search (models/enas/shared.h).
#pragma once

#include <string>
#include <vector>

#include "models/enas/space.h"
#include "models/nn/layers.h"

namespace cudarts::enas {

struct Padding {
    int top = 0, bottom = 0, left = 0, right = 0;
    bool any() const { return top || bottom || left || right; }
    bool symmetric() const { return top == bottom && left == right && top == left; }
};

struct LayerPlan {
    OpSpec op;
    std::vector<int> inputs;           // layer indices: l - 1 first, then the skips, ascending
    std::vector<int> input_channels;   // channels of each input, in the same order
    std::vector<Padding> input_pad;    // zero padding of each input to the common size
    int in_c = 0, in_h = 0, in_w = 0;  // after concatenation
    Padding same;                      // Keras 'same' padding of the convolution
    bool identity = false;             // a reduction on a map of height or width 1
    int out_c = 0, out_h = 0, out_w = 0;
};

struct ChildPlan {
    int channels = 0, height = 0, width = 0, classes = 0;
    std::vector<LayerPlan> layers;  // layers 1..n

    int out_channels(int layer) const {  // layer 0 is the input
        return layer == 0 ? channels : layers[size_t(layer - 1)].out_c;
    }
    std::string summary() const;  // one line per layer: op, inputs, shape in and out
};

// InputError naming `what` and the row when a pool window exceeds its map.
ChildPlan plan_child(const NnConfig& config, const Architecture& arch, const std::string& what);

// The tensors one layer reads; undefined Vars where its op has none. `running_mean` and
// `running_var` undefined: batch statistics in every mode (the shared-weight children).
struct LayerWeights {
    Var weight;     // conv (c_out, c_in, k, k), or depthwise (c_in * m, 1, k, k)
    Var pointwise;  // separable: (num_filter, c_in * m, 1, 1)
    Var bias;       // the layer's output bias (c_out)
    Var gamma, beta;
    Tensor running_mean, running_var;
};

// The logits of a batch x (n, c, h, w) through `plan` with the given weights.
Var child_forward(const ChildPlan& plan, const std::vector<LayerWeights>& layers,
                  const Var& classifier_weight, const Var& classifier_bias, const Var& x,
                  ForwardMode mode);

// Keras's Glorot-uniform bound sqrt(6 / (fan_in + fan_out)) for a kernel of `shape`
// (c_out or depth multiplier first, as cudarts stores it).
float glorot_bound(int fan_in, int fan_out);

// A child with its own weights (enas-trial). Parameter names: layers.<l>.conv.weight / .bias,
// layers.<l>.depthwise.weight, layers.<l>.pointwise.weight / .bias, layers.<l>.bn.weight / .bias /
// .running_mean / .running_var, classifier.weight / .bias.
class ChildNetwork : public ModelStores {
public:
    ChildNetwork(ChildPlan plan, Device dev, uint64_t seed);
    Var forward(const Var& x, ForwardMode mode = {}) const;
    const ChildPlan& plan() const { return plan_; }

private:
    struct LayerRefs {
        int weight = -1, pointwise = -1, bias = -1;
        BatchNormRef bn;
        bool has_bn = false;
    };
    ChildPlan plan_;
    std::vector<LayerRefs> refs_;
    LinearRef classifier_;
};

}  // namespace cudarts::enas
