#include "models/enas/child.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "kernels/check.h"

namespace cudarts::enas {
namespace {

// Keras 'same' along one axis: out = ceil(n / s), padding (out - 1) s + k - n, extra at the end.
std::pair<int, int> same_axis(int n, int k, int s, int& out) {
    out = (n + s - 1) / s;
    const int total = std::max((out - 1) * s + k - n, 0);
    return {total / 2, total - total / 2};
}

// Padding of a map of size (h, w) to (H, W): half before, the odd one after.
Padding to_size(int h, int w, int H, int W) {
    return {(H - h) / 2, (H - h) - (H - h) / 2, (W - w) / 2, (W - w) - (W - w) / 2};
}

Var padded(const Var& x, const Padding& p) {
    return p.any() ? pad2d(x, p.top, p.bottom, p.left, p.right) : x;
}

// pad2d then a convolution without padding, or the convolution's own symmetric padding.
Var conv_same(const Var& x, const Var& w, const Padding& p, int stride, int groups) {
    if (p.symmetric()) return conv2d(x, w, stride, p.top, 1, groups);
    return conv2d(padded(x, p), w, stride, 0, 1, groups);
}

}  // namespace

float glorot_bound(int fan_in, int fan_out) { return std::sqrt(6.f / float(fan_in + fan_out)); }

ChildPlan plan_child(const NnConfig& config, const Architecture& arch, const std::string& what) {
    check_architecture(arch, config.num_layers, 0, &config.embedding, what);
    ChildPlan plan{.channels = config.channels,
                   .height = config.height,
                   .width = config.width,
                   .classes = config.classes,
                   .layers = {}};
    std::vector<int> c{config.channels}, h{config.height}, w{config.width};  // per layer
    for (size_t r = 0; r < arch.size(); ++r) {
        const int l = int(r) + 1;
        LayerPlan p;
        p.op = config.embedding.at(arch[r][0]);
        p.inputs.push_back(l - 1);
        for (size_t k = 1; k < arch[r].size(); ++k)
            if (arch[r][k]) p.inputs.push_back(int(k) - 1);
        for (int j : p.inputs) {
            p.in_h = std::max(p.in_h, h[size_t(j)]);
            p.in_w = std::max(p.in_w, w[size_t(j)]);
        }
        for (int j : p.inputs) {
            p.input_channels.push_back(c[size_t(j)]);
            p.input_pad.push_back(to_size(h[size_t(j)], w[size_t(j)], p.in_h, p.in_w));
            p.in_c += c[size_t(j)];
        }
        const OpSpec& op = p.op;
        if (op.type == OpType::reduction) {
            p.out_c = p.in_c;
            if (p.in_h == 1 || p.in_w == 1) {
                p.identity = true;
                p.out_h = p.in_h, p.out_w = p.in_w;
            } else {
                const int k = op.pool_size, s = op.reduction_stride();
                if (k > p.in_h || k > p.in_w)
                    throw InputError(what + ": row " + std::to_string(l) + ": a " +
                                     std::to_string(k) + "x" + std::to_string(k) + " pool on a " +
                                     std::to_string(p.in_h) + "x" + std::to_string(p.in_w) +
                                     " map (expected a window no larger than the map)");
                p.out_h = (p.in_h - k) / s + 1;
                p.out_w = (p.in_w - k) / s + 1;
            }
        } else {
            const int k = op.filter_size, s = op.stride;
            const auto [top, bottom] = same_axis(p.in_h, k, s, p.out_h);
            const auto [left, right] = same_axis(p.in_w, k, s, p.out_w);
            p.same = {top, bottom, left, right};
            p.out_c = op.type == OpType::depthwise_convolution ? p.in_c * op.depth_multiplier
                                                               : op.num_filter;
            if (int64_t(p.out_c) > 1 << 20)
                throw InputError(what + ": row " + std::to_string(l) + ": " +
                                 std::to_string(p.out_c) + " channels (expected at most 2^20)");
        }
        c.push_back(p.out_c), h.push_back(p.out_h), w.push_back(p.out_w);
        plan.layers.push_back(std::move(p));
    }
    return plan;
}

std::string ChildPlan::summary() const {
    auto shape = [](int c, int h, int w) {
        return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
    };
    std::string s;
    for (size_t i = 0; i < layers.size(); ++i) {
        const LayerPlan& p = layers[i];
        std::string in;
        for (int j : p.inputs) {
            if (!in.empty()) in.push_back('+');
            in.append(std::to_string(j));
        }
        s.append("layer ").append(std::to_string(i + 1)).append(": ").append(p.op.label());
        if (p.identity) s.append(" (identity)");
        s.append(" <- ").append(in).append(": ").append(shape(p.in_c, p.in_h, p.in_w));
        s.append(" -> ").append(shape(p.out_c, p.out_h, p.out_w)).append("\n");
    }
    return s;
}

Var child_forward(const ChildPlan& plan, const std::vector<LayerWeights>& layers,
                  const Var& classifier_weight, const Var& classifier_bias, const Var& x,
                  ForwardMode mode) {
    CUDARTS_CHECK(layers.size() == plan.layers.size(),
                  "child_forward: " << layers.size() << " weight sets for " << plan.layers.size()
                                    << " layers");
    std::vector<Var> outs{x};
    for (size_t i = 0; i < plan.layers.size(); ++i) {
        const LayerPlan& p = plan.layers[i];
        const LayerWeights& lw = layers[i];
        std::vector<Var> parts;
        for (size_t k = 0; k < p.inputs.size(); ++k)
            parts.push_back(padded(outs[size_t(p.inputs[k])], p.input_pad[k]));
        Var in = parts.size() == 1 ? parts[0] : concat_channels(parts);
        Var y;
        const OpSpec& op = p.op;
        if (op.type == OpType::reduction) {
            y = p.identity    ? in
                : op.max_pool ? max_pool2d(in, op.pool_size, op.reduction_stride(), 0)
                              : avg_pool2d(in, op.pool_size, op.reduction_stride(), 0);
        } else {
            const Var a = relu(in);
            if (op.type == OpType::convolution) {
                y = conv_same(a, lw.weight, p.same, op.stride, 1);
            } else {
                y = conv_same(a, lw.weight, p.same, op.stride, p.in_c);  // depthwise
                if (op.type == OpType::separable_convolution) y = conv2d(y, lw.pointwise);
            }
            y = channel_bias(y, lw.bias);
            const bool track = lw.running_mean.defined() && (mode.track_stats || !mode.training);
            y = batch_norm(y, lw.gamma, lw.beta, track ? lw.running_mean : Tensor(),
                           track ? lw.running_var : Tensor(),
                           mode.training || !lw.running_mean.defined(), 0.01f, 1e-3f);
        }
        outs.push_back(y);
    }
    return linear(global_avg_pool(outs.back()), classifier_weight, classifier_bias);
}

ChildNetwork::ChildNetwork(ChildPlan plan, Device dev, uint64_t seed)
    : ModelStores(dev), plan_(std::move(plan)) {
    ModelBuilder b(weights_, buffers_);
    for (size_t i = 0; i < plan_.layers.size(); ++i) {
        const LayerPlan& p = plan_.layers[i];
        const std::string name = "layers." + std::to_string(i + 1);
        const OpSpec& op = p.op;
        LayerRefs r;
        if (op.type != OpType::reduction) {
            const int k = op.filter_size, kk = k * k;
            if (op.type == OpType::convolution) {
                r.weight = b.uniform(name + ".conv.weight", {p.out_c, p.in_c, k, k},
                                     glorot_bound(p.in_c * kk, p.out_c * kk));
                r.bias = b.constant(name + ".conv.bias", {p.out_c}, 0.f);
            } else {
                const int m = op.depth_multiplier;
                // Keras's depthwise kernel (k, k, c_in, m): fan in c_in k k, fan out m k k.
                r.weight = b.uniform(name + ".depthwise.weight", {p.in_c * m, 1, k, k},
                                     glorot_bound(p.in_c * kk, m * kk));
                if (op.type == OpType::separable_convolution) {
                    r.pointwise = b.uniform(name + ".pointwise.weight", {p.out_c, p.in_c * m, 1, 1},
                                            glorot_bound(p.in_c * m, p.out_c));
                    r.bias = b.constant(name + ".pointwise.bias", {p.out_c}, 0.f);
                } else {
                    r.bias = b.constant(name + ".depthwise.bias", {p.out_c}, 0.f);
                }
            }
            r.bn = b.batch_norm(name + ".bn", p.out_c, true);
            r.has_bn = true;
        }
        refs_.push_back(r);
    }
    const int last = plan_.out_channels(int(plan_.layers.size()));
    const float bound = glorot_bound(last, plan_.classes);
    classifier_ = {b.uniform("classifier.weight", {plan_.classes, last}, bound),
                   b.constant("classifier.bias", {plan_.classes}, 0.f)};
    Generator gen(seed);
    b.finalize(dev, gen);
}

Var ChildNetwork::forward(const Var& x, ForwardMode mode) const {
    std::vector<LayerWeights> lw;
    for (const LayerRefs& r : refs_) {
        LayerWeights w;
        if (r.weight >= 0) w.weight = weights_[r.weight];
        if (r.pointwise >= 0) w.pointwise = weights_[r.pointwise];
        if (r.bias >= 0) w.bias = weights_[r.bias];
        if (r.has_bn) {
            w.gamma = weights_[r.bn.affine->gamma];
            w.beta = weights_[r.bn.affine->beta];
            w.running_mean = buffers_[r.bn.running_mean].value();
            w.running_var = buffers_[r.bn.running_var].value();
        }
        lw.push_back(std::move(w));
    }
    return child_forward(plan_, lw, weights_[classifier_.weight], weights_[classifier_.bias], x,
                         mode);
}

}  // namespace cudarts::enas
