// The DARTS operations (reference/darts.md sections 1.1 and 1.2), shared by the search network
// (BN without affine, every pool followed by a BN) and the evaluation network (affine BN, bare
// pools). Each op registers its tensors under the official state_dict names below `prefix`, e.g.
// `cells.2._ops.0._ops.4` + `.op.1.weight` for the first depthwise conv of a sep_conv_3x3.
//
//   none          x * 0 (at stride 2 on every 2nd row and column); returned as an absent Var,
//                 which the mixed sum treats as zeros (so a NaN in x does not turn into NaN)
//   max/avg_pool  3x3, pad 1 (avg without the padding), then BN at `.1` in the search network
//   skip_connect  identity at stride 1, FactorizedReduce(C, C) at stride 2
//   sep_conv_kxk  (ReLU, dw kxk stride s, 1x1, BN) then (ReLU, dw kxk stride 1, 1x1, BN)
//   dil_conv_kxk  ReLU, dw kxk dilation 2 stride s, 1x1, BN
// All ReLUs are out of place (the ops of a mixed edge share their input).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/darts/primitives.h"
#include "models/nn/layers.h"

namespace cudarts {

// An op's input, and what several ops compute from it alone, made at most once however many ops
// of a cell ask: its ReLU (the convolutions of every edge leaving one state) and its 3x3 pools
// (the pools of those edges, which have no weights, so every edge's pool is the same tensor).
class StageInput {
public:
    explicit StageInput(Var x) : x_(std::move(x)) {}
    // An input known only as its ReLU (a norm with the ReLU fused into it): x() throws.
    static StageInput of_relu(Var relu_x);
    const Var& x() const;
    const Var& relu() const;
    // max_pool2d or avg_pool2d(x, 3, stride, 1).
    Var pooled(bool max, int stride) const;

private:
    struct Pooled {
        bool max;
        int stride;
        Var y;
    };
    Var x_;
    mutable Var relu_;
    mutable std::vector<Pooled> pooled_;
};

class Primitive {
public:
    virtual ~Primitive() = default;
    // The op's output; an undefined Var for `none` (an all-zero output).
    virtual Var forward(const Var& x, const Forward& f) const = 0;
    virtual bool is_identity() const { return false; }  // drop path exempts these

    // The staged form (forward_staged below): the op as stages() pieces, each ending in a batch
    // norm. stage(s, in, f) is piece s up to its norm, from the op's input (s = 0) or from piece
    // s - 1's normalised output; stage_bn(s) is that norm. Ops without a norm (none, identity, the
    // evaluation network's bare pools) have 0 stages and forward() is all of them.
    // stage_relu(s): stage s + 1 reads only the ReLU of stage s's norm (in.relu(), never in.x()),
    // so forward_staged fuses that ReLU into the norm.
    virtual int stages() const { return 0; }
    virtual Var stage(int s, const StageInput& in, const Forward& f) const;
    virtual const BatchNormRef& stage_bn(int s) const;
    virtual bool stage_relu(int) const { return false; }

    // stage_dw(s): stage s is a depthwise conv of in.relu() then a 1x1 conv of its output, up to
    // the norm: their weights' indices and the depthwise conv's stride, padding and dilation
    // (none: stage s is something else). forward_staged runs each kind of conv of a stage as
    // conv2d_groups; for such a stage, stage() is the two convs (the default below).
    struct DwConv {
        int weight, stride, pad, dil;
        int pointwise;  // the 1x1 conv's weight
    };
    virtual std::optional<DwConv> stage_dw(int) const { return std::nullopt; }
};

// Runs ops[i] on inputs[input_of[i]] for every i and returns their outputs: the numbers of
// ops[i]->forward(inputs[input_of[i]], f), but computed stage by stage across all the ops, so that
// the depthwise and the 1x1 convs of one stage and shape are one conv2d_group each, in training
// the norms one batch_norm_group, and each input's ReLU and pools are made once. The search cell
// runs every edge leaving the same states through one call.
std::vector<Var> forward_staged(const std::vector<const Primitive*>& ops,
                                const std::vector<int>& input_of, const std::vector<Var>& inputs,
                                const Forward& f);

struct OpOptions {
    bool affine = false;        // affine BN (evaluation network)
    bool bn_after_pool = true;  // the search network's extra BN after each pool
};

// Builds primitive `name` (official or Katib, models/darts/primitives.h) on C channels through its
// table entry. Throws InputError for an unknown name.
std::unique_ptr<Primitive> make_primitive(const std::string& name, int channels, int stride,
                                          const OpOptions& opt, ModelBuilder& b,
                                          const std::string& prefix);

// ReLU -> conv 1x1 -> BN: a cell's preprocessing (`op.1` conv, `op.2` BN). A Primitive, so that
// preprocess0 holds it or a FactorizedReduce alike.
class ReluConvBn : public Primitive {
public:
    ReluConvBn(int c_in, int c_out, bool affine, ModelBuilder& b, const std::string& prefix);
    Var forward(const Var& x, const Forward& f) const override;
    int stages() const override { return 1; }
    Var stage(int s, const StageInput& in, const Forward& f) const override;
    const BatchNormRef& stage_bn(int) const override { return bn_; }

private:
    int conv_;
    BatchNormRef bn_;
};

// ReLU, then two 1x1 stride-2 convs on the even and the odd pixel grid, concatenated, then BN
// (`conv_1`, `conv_2`, `bn`). Halves H and W (both even).
class FactorizedReduce : public Primitive {
public:
    FactorizedReduce(int c_in, int c_out, bool affine, ModelBuilder& b, const std::string& prefix);
    Var forward(const Var& x, const Forward& f) const override;
    int stages() const override { return 1; }
    Var stage(int s, const StageInput& in, const Forward& f) const override;
    const BatchNormRef& stage_bn(int) const override { return bn_; }

private:
    int conv_1_, conv_2_;
    BatchNormRef bn_;
};

}  // namespace cudarts
