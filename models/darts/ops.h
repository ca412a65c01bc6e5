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
#include <string>
#include <vector>

#include "models/darts/primitives.h"
#include "models/nn/layers.h"

namespace cudarts {

class Primitive {
public:
    virtual ~Primitive() = default;
    // The op's output; an undefined Var for `none` (an all-zero output).
    virtual Var forward(const Var& x, const Forward& f) const = 0;
    virtual bool is_identity() const { return false; }  // drop path exempts these
};

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

private:
    int conv_1_, conv_2_;
    BatchNormRef bn_;
};

}  // namespace cudarts
