// The DARTS operations; see models/darts/ops.h for the names and reference/darts.md 1.1-1.2.
#include "models/darts/ops.h"

#include <algorithm>
#include <optional>

#include "kernels/check.h"

namespace cudarts {

namespace {

// The DARTS 3x3 pool, pad 1 (avg without the padding).
Var pool3x3(const Var& x, bool max, int stride) {
    return max ? max_pool2d(x, 3, stride, 1) : avg_pool2d(x, 3, stride, 1);
}

class NoneOp : public Primitive {
public:
    Var forward(const Var&, const Forward&) const override { return Var(); }
};

class Identity : public Primitive {
public:
    Var forward(const Var& x, const Forward&) const override { return x; }
    bool is_identity() const override { return true; }
};

// 3x3 pool, pad 1; in the search network followed by BN(C) at Sequential index 1.
class Pool : public Primitive {
public:
    Pool(bool max, int channels, int stride, const OpOptions& opt, ModelBuilder& b,
         const std::string& prefix)
        : max_(max), stride_(stride) {
        if (opt.bn_after_pool) bn_ = b.batch_norm(prefix + ".1", channels, opt.affine);
    }
    Var forward(const Var& x, const Forward& f) const override {
        Var y = pool3x3(x, max_, stride_);
        return bn_ ? f.bn(y, *bn_) : y;
    }
    int stages() const override { return bn_ ? 1 : 0; }
    Var stage(int, const StageInput& in, const Forward&) const override {
        return in.pooled(max_, stride_);
    }
    const BatchNormRef& stage_bn(int) const override { return *bn_; }

private:
    bool max_;
    int stride_;
    std::optional<BatchNormRef> bn_;
};

// One ReLU -> depthwise kxk -> pointwise 1x1 -> BN block, its modules at `first`..`first`+3.
struct DwPwBn {
    int dw, pw, stride, pad, dil;
    BatchNormRef bn;

    DwPwBn(int c_in, int c_out, int k, int stride_, int pad_, int dil_, bool affine,
           ModelBuilder& b, const std::string& prefix, int first)
        : stride(stride_), pad(pad_), dil(dil_) {
        const std::string at = prefix + ".op.";
        dw = b.conv(at + std::to_string(first + 1) + ".weight", c_in, c_in, k, c_in);
        pw = b.conv(at + std::to_string(first + 2) + ".weight", c_out, c_in, 1);
        bn = b.batch_norm(at + std::to_string(first + 3), c_out, affine);
    }
    Var forward(const Var& x, const Forward& f) const {
        const Var h = relu(x);
        return f.bn(conv2d(conv2d(h, f.w(dw), stride, pad, dil, int(h.size(1))), f.w(pw)), bn);
    }
    Primitive::DwConv dw_conv() const { return {dw, stride, pad, dil, pw}; }
};

class DilConv : public Primitive {
public:
    DilConv(int c, int k, int stride, bool affine, ModelBuilder& b, const std::string& prefix)
        : block_(c, c, k, stride, k - 1, 2, affine, b, prefix, 0) {}
    Var forward(const Var& x, const Forward& f) const override { return block_.forward(x, f); }
    int stages() const override { return 1; }
    const BatchNormRef& stage_bn(int) const override { return block_.bn; }
    std::optional<DwConv> stage_dw(int) const override { return block_.dw_conv(); }

private:
    DwPwBn block_;
};

// Two blocks: the stride sits on the first depthwise conv; indices op.1-3 and op.5-7.
class SepConv : public Primitive {
public:
    SepConv(int c, int k, int stride, bool affine, ModelBuilder& b, const std::string& prefix)
        : first_(c, c, k, stride, k / 2, 1, affine, b, prefix, 0),
          second_(c, c, k, 1, k / 2, 1, affine, b, prefix, 4) {}
    Var forward(const Var& x, const Forward& f) const override {
        return second_.forward(first_.forward(x, f), f);
    }
    int stages() const override { return 2; }
    const BatchNormRef& stage_bn(int s) const override { return block(s).bn; }
    bool stage_relu(int s) const override { return s == 0; }  // the second block's ReLU
    std::optional<DwConv> stage_dw(int s) const override { return block(s).dw_conv(); }

private:
    const DwPwBn& block(int s) const { return s == 0 ? first_ : second_; }
    DwPwBn first_, second_;
};

}  // namespace

ReluConvBn::ReluConvBn(int c_in, int c_out, bool affine, ModelBuilder& b,
                       const std::string& prefix) {
    conv_ = b.conv(prefix + ".op.1.weight", c_out, c_in, 1);
    bn_ = b.batch_norm(prefix + ".op.2", c_out, affine);
}

Var ReluConvBn::forward(const Var& x, const Forward& f) const {
    return f.bn(stage(0, StageInput(x), f), bn_);
}

Var ReluConvBn::stage(int, const StageInput& in, const Forward& f) const {
    return conv2d(in.relu(), f.w(conv_));
}

FactorizedReduce::FactorizedReduce(int c_in, int c_out, bool affine, ModelBuilder& b,
                                   const std::string& prefix) {
    CUDARTS_CHECK(c_out % 2 == 0, "FactorizedReduce: output channels must be even, got " << c_out);
    conv_1_ = b.conv(prefix + ".conv_1.weight", c_out / 2, c_in, 1);
    conv_2_ = b.conv(prefix + ".conv_2.weight", c_out / 2, c_in, 1);
    bn_ = b.batch_norm(prefix + ".bn", c_out, affine);
}

Var FactorizedReduce::forward(const Var& x, const Forward& f) const {
    return f.bn(stage(0, StageInput(x), f), bn_);
}

Var FactorizedReduce::stage(int, const StageInput& in, const Forward& f) const {
    const Var& x = in.x();
    CUDARTS_CHECK(x.size(2) % 2 == 0 && x.size(3) % 2 == 0,
                  "FactorizedReduce: needs even H and W, got " << x.value());
    const Var& y = in.relu();
    const Var even = conv2d(y, f.w(conv_1_), 2);               // y[:, :, 0::2, 0::2]
    const Var odd = conv2d(subsample(y, 2, 1), f.w(conv_2_));  // y[:, :, 1::2, 1::2]
    return concat_channels({even, odd});
}

StageInput StageInput::of_relu(Var relu_x) {
    StageInput in{Var()};
    in.relu_ = std::move(relu_x);
    return in;
}

const Var& StageInput::x() const {
    CUDARTS_CHECK(x_.defined(), "StageInput: only the ReLU of this input was kept");
    return x_;
}

const Var& StageInput::relu() const {
    if (!relu_.defined()) relu_ = cudarts::relu(x_);
    return relu_;
}

Var StageInput::pooled(bool max, int stride) const {
    for (const Pooled& p : pooled_)
        if (p.max == max && p.stride == stride) return p.y;
    pooled_.push_back({max, stride, pool3x3(x_, max, stride)});
    return pooled_.back().y;
}

Var Primitive::stage(int s, const StageInput& in, const Forward& f) const {
    const std::optional<DwConv> d = stage_dw(s);
    if (!d) throw Error("Primitive::stage: this op has no batch norm stage");
    const Var& x = in.relu();
    const Var h = conv2d(x, f.w(d->weight), d->stride, d->pad, d->dil, int(x.size(1)));
    return conv2d(h, f.w(d->pointwise));
}

const BatchNormRef& Primitive::stage_bn(int) const {
    throw Error("Primitive::stage_bn: this op has no batch norm stage");
}

std::vector<Var> forward_staged(const std::vector<const Primitive*>& ops,
                                const std::vector<int>& input_of, const std::vector<Var>& inputs,
                                const Forward& f) {
    CUDARTS_CHECK(input_of.size() == ops.size(),
                  "forward_staged: " << ops.size() << " ops but " << input_of.size() << " inputs");
    std::vector<StageInput> in;
    for (const Var& x : inputs) in.emplace_back(x);
    std::vector<Var> out(ops.size());
    std::vector<StageInput> next;  // each staged op's input to its next stage
    int max_stages = 0;
    for (size_t i = 0; i < ops.size(); ++i) {
        CUDARTS_CHECK(input_of[i] >= 0 && size_t(input_of[i]) < inputs.size(),
                      "forward_staged: op " << i << " reads input " << input_of[i] << " of "
                                            << inputs.size());
        next.emplace_back(Var());
        if (ops[i]->stages() == 0) out[i] = ops[i]->forward(inputs[size_t(input_of[i])], f);
        max_stages = std::max(max_stages, ops[i]->stages());
    }
    for (int s = 0; s < max_stages; ++s) {
        std::vector<size_t> live;
        std::vector<Var> pre;
        std::vector<const BatchNormRef*> norms;
        std::vector<bool> relu;  // the next stage reads only the ReLU: fused into the norm
        const auto input = [&](size_t i) -> const StageInput& {
            return s == 0 ? in[size_t(input_of[i])] : next[i];
        };
        // The stage's depthwise convs first, then their 1x1 convs: each kind as one conv2d_group
        // per set of ops whose settings (same_setting) and input and weight shapes agree.
        std::vector<std::optional<Primitive::DwConv>> dw(ops.size());
        for (size_t i = 0; i < ops.size(); ++i)
            if (ops[i]->stages() > s) dw[i] = ops[i]->stage_dw(s);
        const auto has_dw = [&](size_t i) { return dw[i].has_value(); };
        const auto grouped = [&](const auto& x_of, const auto& w_of, const auto& same_setting,
                                 const auto& conv) {
            const auto same = [&](size_t a, size_t b) {
                return same_setting(a, b) && x_of(a).shape() == x_of(b).shape() &&
                       w_of(a).shape() == w_of(b).shape();
            };
            std::vector<Var> ys(ops.size());
            for (const std::vector<size_t>& members : group_indices(ops.size(), has_dw, same)) {
                std::vector<Var> xs, ws;
                for (const size_t j : members) {
                    xs.push_back(x_of(j));
                    ws.push_back(w_of(j));
                }
                const std::vector<Var> hs = conv(xs, ws, *dw[members[0]]);
                for (size_t k = 0; k < members.size(); ++k) ys[members[k]] = hs[k];
            }
            return ys;
        };
        const std::vector<Var> dw_out = grouped(
            [&](size_t i) { return input(i).relu(); }, [&](size_t i) { return f.w(dw[i]->weight); },
            [&](size_t a, size_t b) {
                return dw[a]->stride == dw[b]->stride && dw[a]->pad == dw[b]->pad &&
                       dw[a]->dil == dw[b]->dil;
            },
            [](const std::vector<Var>& xs, const std::vector<Var>& ws, const Primitive::DwConv& d) {
                return conv2d_group(xs, ws, d.stride, d.pad, d.dil, int(xs[0].size(1)));
            });
        const std::vector<Var> pw_out = grouped(
            [&](size_t i) { return dw_out[i]; }, [&](size_t i) { return f.w(dw[i]->pointwise); },
            [](size_t, size_t) { return true; },
            [](const std::vector<Var>& xs, const std::vector<Var>& ws, const Primitive::DwConv&) {
                return conv2d_group(xs, ws, 1, 0, 1, 1);
            });
        for (size_t i = 0; i < ops.size(); ++i) {
            if (ops[i]->stages() <= s) continue;
            live.push_back(i);
            pre.push_back(dw[i] ? pw_out[i] : ops[i]->stage(s, input(i), f));
            norms.push_back(&ops[i]->stage_bn(s));
            relu.push_back(s + 1 < ops[i]->stages() && ops[i]->stage_relu(s));
        }
        const std::vector<Var> normed = f.bn_group(pre, norms, relu);
        for (size_t k = 0; k < live.size(); ++k) {
            const size_t i = live[k];
            if (s + 1 == ops[i]->stages()) {
                out[i] = normed[k];
            } else {
                next[i] = relu[k] ? StageInput::of_relu(normed[k]) : StageInput(normed[k]);
            }
        }
    }
    return out;
}

namespace {

template <int K>
std::unique_ptr<Primitive> sep_conv(int c, int stride, const OpOptions& opt, ModelBuilder& b,
                                    const std::string& prefix) {
    return std::make_unique<SepConv>(c, K, stride, opt.affine, b, prefix);
}

template <int K>
std::unique_ptr<Primitive> dil_conv(int c, int stride, const OpOptions& opt, ModelBuilder& b,
                                    const std::string& prefix) {
    return std::make_unique<DilConv>(c, K, stride, opt.affine, b, prefix);
}

template <bool Max>
std::unique_ptr<Primitive> pool(int c, int stride, const OpOptions& opt, ModelBuilder& b,
                                const std::string& prefix) {
    return std::make_unique<Pool>(Max, c, stride, opt, b, prefix);
}

// Identity at stride 1, FactorizedReduce(C, C) at stride 2.
std::unique_ptr<Primitive> skip(int c, int stride, const OpOptions& opt, ModelBuilder& b,
                                const std::string& prefix) {
    if (stride == 1) return std::make_unique<Identity>();
    return std::make_unique<FactorizedReduce>(c, c, opt.affine, b, prefix);
}

std::unique_ptr<Primitive> none(int, int, const OpOptions&, ModelBuilder&, const std::string&) {
    return std::make_unique<NoneOp>();
}

// darts.md 1.1 (the column order) and 1.4 / katib.md 1.5 (Katib has no other names).
constexpr std::array<PrimitiveSpec, kPrimitiveCount> kPrimitives = {{
    {"none", "none", none},
    {"max_pool_3x3", "max_pooling_3x3", pool<true>},
    {"avg_pool_3x3", "avg_pooling_3x3", pool<false>},
    {"skip_connect", "skip_connection", skip},
    {"sep_conv_3x3", "separable_convolution_3x3", sep_conv<3>},
    {"sep_conv_5x5", "separable_convolution_5x5", sep_conv<5>},
    {"dil_conv_3x3", "dilated_convolution_3x3", dil_conv<3>},
    {"dil_conv_5x5", "dilated_convolution_5x5", dil_conv<5>},
}};
// std::array rejects extra entries; this rejects missing ones (left value-initialised).
static_assert(
    [] {
        for (const PrimitiveSpec& p : kPrimitives)
            if (p.official == nullptr || p.build == nullptr) return false;
        return true;
    }(),
    "one table entry per DARTS primitive");

}  // namespace

const std::array<PrimitiveSpec, kPrimitiveCount>& primitive_table() { return kPrimitives; }

std::unique_ptr<Primitive> make_primitive(const std::string& name, int channels, int stride,
                                          const OpOptions& opt, ModelBuilder& b,
                                          const std::string& prefix) {
    const PrimitiveSpec* p = find_primitive(name);
    if (!p) throw InputError(unknown_primitive_message(name));
    return p->build(channels, stride, opt, b, prefix);
}

}  // namespace cudarts
