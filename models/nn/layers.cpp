// ModelBuilder and the batch-norm call of the module layer.
#include "models/nn/layers.h"

#include <cmath>

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
        b.gamma = weights_.add(prefix + ".weight", {channels});
        b.beta = weights_.add(prefix + ".bias", {channels});
        weight_init_.push_back({b.gamma, 0.f, 1.f});
        weight_init_.push_back({b.beta, 0.f, 0.f});
    }
    b.running_mean = buffers_.add(prefix + ".running_mean", {channels});
    b.running_var = buffers_.add(prefix + ".running_var", {channels});
    buffer_init_.push_back({b.running_mean, 0.f, 0.f});
    buffer_init_.push_back({b.running_var, 0.f, 1.f});
    return b;
}

int ModelBuilder::linear(const std::string& prefix, int out, int in) {
    const float bound = 1.f / std::sqrt(float(in));
    const int w = weights_.add(prefix + ".weight", {out, in});
    const int b = weights_.add(prefix + ".bias", {out});
    weight_init_.push_back({w, bound, 0.f});
    weight_init_.push_back({b, bound, 0.f});
    return w;
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
    const Var gamma = b.gamma >= 0 ? weights[b.gamma] : Var();
    const Var beta = b.beta >= 0 ? weights[b.beta] : Var();
    const bool track = mode.track_stats || !mode.training;
    const Tensor rm = track ? buffers[b.running_mean].value() : Tensor();
    const Tensor rv = track ? buffers[b.running_var].value() : Tensor();
    return batch_norm(x, gamma, beta, rm, rv, mode.training);
}

}  // namespace cudarts
