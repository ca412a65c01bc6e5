// The small module layer the DARTS networks are built from. A model is two flat stores
// (DESIGN decision 3): `weights` (learnable, with gradients) and `buffers` (BN running statistics),
// both keyed by the official PyTorch state_dict names. Modules are plain structs that hold indices
// into those stores: they register their tensors with a ModelBuilder while the network is being
// constructed, and read them through a Forward context afterwards.
//
// Initialisation follows PyTorch 0.3.1 (reference/darts.md section 0): conv weights
// U(+-1/sqrt(in_channels * k * k)) with depthwise convs NOT divided by groups, linear weight and
// bias U(+-1/sqrt(in_features)), affine BN gamma = 1 (PyTorch >= 1.0; 0.3.1 drew U[0,1)) and
// beta = 0, running mean 0 and variance 1.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/nn/params.h"

namespace cudarts {

// How a forward pass treats batch norm. `track_stats` false runs training-mode BN without
// touching the running statistics: the second-order architect's unrolled copy uses it, because
// in the reference that copy has its own buffers and they are thrown away.
struct ForwardMode {
    bool training = true;
    bool track_stats = true;
};

// A BatchNorm2d: indices of the running statistics in the buffers and, when affine, of gamma and
// beta in the weights.
struct BatchNormRef {
    struct Affine {
        int gamma, beta;
    };
    std::optional<Affine> affine;  // absent for affine=False
    int running_mean = 0, running_var = 0;
};

// A Linear: indices of its weight and bias in the weights.
struct LinearRef {
    int weight = 0, bias = 0;
};

// What every model holds: its weights and buffers on one device. The networks derive from it;
// they are never copied, since their modules' indices and the leaf Vars view these stores.
class ModelStores {
public:
    explicit ModelStores(Device dev) : dev_(dev) {}
    ModelStores(const ModelStores&) = delete;
    ModelStores& operator=(const ModelStores&) = delete;

    Device device() const { return dev_; }
    ParamStore& weights() { return weights_; }
    ParamStore& buffers() { return buffers_; }
    const ParamStore& weights() const { return weights_; }
    const ParamStore& buffers() const { return buffers_; }

protected:
    ~ModelStores() = default;
    Device dev_;
    ParamStore weights_, buffers_;
};

class ModelBuilder {
public:
    ModelBuilder(ParamStore& weights, ParamStore& buffers) : weights_(weights), buffers_(buffers) {}

    // A bias-free conv weight (c_out, c_in / groups, k, k), initialised U(+-1/sqrt(c_in k k)).
    int conv(const std::string& name, int c_out, int c_in, int k, int groups = 1);
    // `prefix`.weight/.bias (when affine) and `prefix`.running_mean/.running_var.
    BatchNormRef batch_norm(const std::string& prefix, int channels, bool affine);
    // `prefix`.weight (out, in) and `prefix`.bias (out), both U(+-1/sqrt(in)).
    LinearRef linear(const std::string& prefix, int out, int in);
    // Any other weight: U(-bound, bound), or all `value` (the recurrent models' tensors).
    int uniform(const std::string& name, const Shape& shape, float bound);
    int constant(const std::string& name, const Shape& shape, float value);

    // Allocates both stores on `dev` and initialises every registered tensor in registration order
    // (so the same seed gives the same weights on every device).
    void finalize(Device dev, Generator& gen);

private:
    struct Init {
        int index;
        float bound;  // U(-bound, bound) when > 0; otherwise the constant `value`
        float value;
    };
    ParamStore& weights_;
    ParamStore& buffers_;
    std::vector<Init> weight_init_, buffer_init_;
};

// The indices i < n with keep(i), in groups of those with same(first, i) for the group's first
// index; groups in order of their first index, each in increasing order. For grouping the
// same-shaped pieces of a forward into one launch (Forward::bn_group, forward_staged).
template <class Keep, class Same>
std::vector<std::vector<size_t>> group_indices(size_t n, const Keep& keep, const Same& same) {
    std::vector<std::vector<size_t>> groups;
    for (size_t i = 0; i < n; ++i) {
        if (!keep(i)) continue;
        const auto g = std::find_if(groups.begin(), groups.end(),
                                    [&](const std::vector<size_t>& m) { return same(m[0], i); });
        if (g == groups.end()) {
            groups.push_back({i});
        } else {
            g->push_back(i);
        }
    }
    return groups;
}

// What a module's forward needs besides its input.
struct Forward {
    const ParamStore& weights;
    const ParamStore& buffers;
    ForwardMode mode;

    const Var& w(int i) const { return weights[i]; }
    Var bn(const Var& x, const BatchNormRef& b) const;
    // ys[i] = bn(xs[i], *norms[i]) for every i, or relu of it where relu[i] (empty: nowhere). In
    // training, when no norm is affine, the inputs of one shape go through one batch_norm_group
    // (the ReLUs fused into it): the same numbers, a few launches for them all.
    std::vector<Var> bn_group(const std::vector<Var>& xs,
                              const std::vector<const BatchNormRef*>& norms,
                              const std::vector<bool>& relu = {}) const;
    Var linear(const Var& x, const LinearRef& l) const;
};

}  // namespace cudarts
