// ModelBuilder and the batch-norm call of the module layer.
#include "models/nn/layers.h"

#include <cmath>

#include "kernels/check.h"

namespace cudarts {

int ModelBuilder::conv(const std::string& name, int c_out, int c_in, int k, int groups) {
    const int i = weights_.add(name, {c_out, c_in / groups, k, k});
    // PyTorch 0.3.1: fan-in is in_channels * k * k, not divided by groups.
    weight_init_.push_back({i, 1.f / std::sqrt(float(c_in * k * k)), 0.f});
    return i;
}

BatchNormRef ModelBuilder::batch_norm(const std::string& prefix, int channels, bool affine) {
    BatchNormRef b;
    if (affine) {
        b.affine = BatchNormRef::Affine{weights_.add(prefix + ".weight", {channels}),
                                        weights_.add(prefix + ".bias", {channels})};
        weight_init_.push_back({b.affine->gamma, 0.f, 1.f});
        weight_init_.push_back({b.affine->beta, 0.f, 0.f});
    }
    b.running_mean = buffers_.add(prefix + ".running_mean", {channels});
    b.running_var = buffers_.add(prefix + ".running_var", {channels});
    buffer_init_.push_back({b.running_mean, 0.f, 0.f});
    buffer_init_.push_back({b.running_var, 0.f, 1.f});
    return b;
}

LinearRef ModelBuilder::linear(const std::string& prefix, int out, int in) {
    const float bound = 1.f / std::sqrt(float(in));
    LinearRef l;
    l.weight = weights_.add(prefix + ".weight", {out, in});
    l.bias = weights_.add(prefix + ".bias", {out});
    weight_init_.push_back({l.weight, bound, 0.f});
    weight_init_.push_back({l.bias, bound, 0.f});
    return l;
}

int ModelBuilder::uniform(const std::string& name, const Shape& shape, float bound) {
    const int i = weights_.add(name, shape);
    weight_init_.push_back({i, bound, 0.f});
    return i;
}

int ModelBuilder::constant(const std::string& name, const Shape& shape, float value) {
    const int i = weights_.add(name, shape);
    weight_init_.push_back({i, 0.f, value});
    return i;
}

void ModelBuilder::finalize(Device dev, Generator& gen) {
    weights_.finalize(dev);
    buffers_.finalize(dev);
    for (const Init& in : weight_init_) {
        if (in.bound > 0)
            weights_.init_uniform(in.index, in.bound, gen);
        else
            weights_.init_constant(in.index, in.value);
    }
    for (const Init& in : buffer_init_) buffers_.init_constant(in.index, in.value);
}

Var Forward::bn(const Var& x, const BatchNormRef& b) const {
    const Var gamma = b.affine ? weights[b.affine->gamma] : Var();
    const Var beta = b.affine ? weights[b.affine->beta] : Var();
    const bool track = mode.track_stats || !mode.training;
    const Tensor rm = track ? buffers[b.running_mean].value() : Tensor();
    const Tensor rv = track ? buffers[b.running_var].value() : Tensor();
    return batch_norm(x, gamma, beta, rm, rv, mode.training);
}

std::vector<Var> Forward::bn_group(const std::vector<Var>& xs,
                                   const std::vector<const BatchNormRef*>& norms,
                                   const std::vector<bool>& relu) const {
    CUDARTS_CHECK(xs.size() == norms.size() && (relu.empty() || relu.size() == xs.size()),
                  "Forward::bn_group: " << xs.size() << " inputs but " << norms.size()
                                        << " norms and " << relu.size() << " ReLU flags");
    const auto fused = [&](size_t i) { return !relu.empty() && relu[i]; };
    std::vector<Var> ys(xs.size());
    bool grouped = mode.training;
    for (const BatchNormRef* b : norms) grouped = grouped && !b->affine;
    if (!grouped) {
        for (size_t i = 0; i < xs.size(); ++i) {
            ys[i] = bn(xs[i], *norms[i]);
            if (fused(i)) ys[i] = cudarts::relu(ys[i]);
        }
        return ys;
    }
    const bool track = mode.track_stats;
    const auto members_of_shapes = group_indices(
        xs.size(), [](size_t) { return true; },
        [&](size_t a, size_t b) { return xs[a].shape() == xs[b].shape(); });
    for (const std::vector<size_t>& members : members_of_shapes) {
        std::vector<Var> group;
        std::vector<Tensor> rm, rv;
        std::vector<bool> member_relu;
        for (const size_t i : members) {
            group.push_back(xs[i]);
            rm.push_back(track ? buffers[norms[i]->running_mean].value() : Tensor());
            rv.push_back(track ? buffers[norms[i]->running_var].value() : Tensor());
            member_relu.push_back(fused(i));
        }
        const std::vector<Var> out = batch_norm_group(group, rm, rv, member_relu);
        for (size_t k = 0; k < members.size(); ++k) ys[members[k]] = out[k];
    }
    return ys;
}

Var Forward::linear(const Var& x, const LinearRef& l) const {
    return cudarts::linear(x, weights[l.weight], weights[l.bias]);
}

}  // namespace cudarts
