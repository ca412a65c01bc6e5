// The DARTS evaluation networks; see models/darts/eval_network.h and reference/darts.md section 6.
#include "models/darts/eval_network.h"

#include <algorithm>

#include "kernels/check.h"
#include "models/nn/setting.h"

namespace cudarts {

void EvalNetConfig::validate() const {
    require_image_io(in_channels, classes);
    require(init_channels >= 2 && init_channels <= 512 && init_channels % 2 == 0, "init_channels",
            "an even number in 2..512", init_channels);
    require(layers >= 3 && layers <= 100, "layers", "3..100", layers);
    if (genotype.normal.empty() || genotype.normal.size() % 2 != 0 || !genotype.has_reduce ||
        genotype.reduce.size() != genotype.normal.size())
        throw SettingError("genotype",
                           "expected 2 genes per node in both the normal and the "
                           "reduce cell");
}

void EvalNetConfig::require_fits(int height, int width) const {
    // NetworkImageNet: stem0's two stride-2 convs (ceil(H/4)) feed cell 0's FactorizedReduce,
    // then come the two reductions: three halvings.
    if (imagenet)
        require_halvable(height, width, (height + 3) / 4, (width + 3) / 4, 3, "NetworkImageNet",
                         "sizes whose quarter, rounded up, is a multiple of 8, e.g. 224x224");
    else
        require_halvable(height, width, height, width, 2, "NetworkCIFAR",
                         "height and width multiples of 4");
}

int auxiliary_map_side(const EvalNetConfig& net, int height, int width) {
    return std::min(height, width) / (net.imagenet ? 32 : 4);  // the stride down to cell aux_cell()
}

int auxiliary_map_needed(const EvalNetConfig& net) { return net.imagenet ? 7 : 8; }

bool auxiliary_fits(const EvalNetConfig& net, int height, int width) {
    return auxiliary_map_side(net, height, width) >= auxiliary_map_needed(net);
}

struct EvalNetwork::Cell {
    bool reduction;
    std::unique_ptr<Primitive> pre0;
    std::unique_ptr<ReluConvBn> pre1;
    std::vector<std::unique_ptr<Primitive>> ops;
    std::vector<int> inputs, concat;

    Cell(const Genotype& g, int index, int c_pp, int c_p, int c, bool reduction_,
         bool reduction_prev, ModelBuilder& b)
        : reduction(reduction_) {
        const std::string at = "cells." + std::to_string(index);
        if (reduction_prev)
            pre0 = std::make_unique<FactorizedReduce>(c_pp, c, true, b, at + ".preprocess0");
        else
            pre0 = std::make_unique<ReluConvBn>(c_pp, c, true, b, at + ".preprocess0");
        pre1 = std::make_unique<ReluConvBn>(c_p, c, true, b, at + ".preprocess1");
        const std::vector<Gene>& genes = reduction ? g.reduce : g.normal;
        concat = reduction ? g.reduce_concat : g.normal_concat;
        const OpOptions opt{.affine = true, .bn_after_pool = false};
        for (size_t k = 0; k < genes.size(); ++k) {
            const int stride = reduction && genes[k].input < 2 ? 2 : 1;
            ops.push_back(
                make_primitive(genes[k].op, c, stride, opt, b, at + "._ops." + std::to_string(k)));
            inputs.push_back(genes[k].input);
        }
    }
    int multiplier() const { return int(concat.size()); }

    Var forward(const Var& s0, const Var& s1, const Forward& f, float drop_prob,
                Generator& gen) const {
        std::vector<Var> states{pre0->forward(s0, f), pre1->forward(s1, f)};
        for (size_t i = 0; i < ops.size() / 2; ++i) {
            Var h[2];
            for (size_t t = 0; t < 2; ++t) {
                const size_t k = 2 * i + t;
                CUDARTS_CHECK(size_t(inputs[k]) < states.size(),
                              "eval cell: gene " << k << " reads state " << inputs[k]);
                h[t] = ops[k]->forward(states[size_t(inputs[k])], f);
                if (f.mode.training && drop_prob > 0 && !ops[k]->is_identity())
                    h[t] = drop_path(h[t], drop_prob, gen, true);
            }
            states.push_back(add(h[0], h[1]));
        }
        std::vector<Var> out;
        for (int c : concat) out.push_back(states.at(size_t(c)));
        return concat_channels(out);
    }
};

// ReLU -> avg pool 5 (stride 3 CIFAR, 2 ImageNet) -> 1x1 to 128 -> BN -> ReLU -> 2x2 to 768 ->
// BN (CIFAR only) -> ReLU -> linear.
struct EvalNetwork::AuxHead {
    bool imagenet;
    int conv1, conv2;
    BatchNormRef bn1;
    std::optional<BatchNormRef> bn2;  // CIFAR only
    LinearRef classifier;

    AuxHead(int c, int classes, bool imagenet_, ModelBuilder& b) : imagenet(imagenet_) {
        const std::string at = "auxiliary_head.features.";
        conv1 = b.conv(at + "2.weight", 128, c, 1);
        bn1 = b.batch_norm(at + "3", 128, true);
        conv2 = b.conv(at + "5.weight", 768, 128, 2);
        if (!imagenet) bn2 = b.batch_norm(at + "6", 768, true);
        classifier = b.linear("auxiliary_head.classifier", classes, 768);
    }
    Var forward(const Var& x, const Forward& f) const {
        Var h = avg_pool2d(relu(x), 5, imagenet ? 2 : 3, 0);
        h = relu(f.bn(conv2d(h, f.w(conv1)), bn1));
        h = conv2d(h, f.w(conv2));
        if (bn2) h = f.bn(h, *bn2);
        h = relu(h);
        return f.linear(reshape(h, {h.size(0), 768}), classifier);
    }
};

EvalNetwork::EvalNetwork(EvalNetConfig cfg, Device dev, uint64_t seed)
    : ModelStores(dev), cfg_(std::move(cfg)) {
    cfg_.validate();
    ModelBuilder b(weights_, buffers_);
    const int c = cfg_.init_channels;
    int c_pp, c_p, c_curr = c;
    bool reduction_prev;
    if (cfg_.imagenet) {
        stem_convs_.push_back(b.conv("stem0.0.weight", c / 2, cfg_.in_channels, 3));
        stem_bns_.push_back(b.batch_norm("stem0.1", c / 2, true));
        stem_convs_.push_back(b.conv("stem0.3.weight", c, c / 2, 3));
        stem_bns_.push_back(b.batch_norm("stem0.4", c, true));
        stem_convs_.push_back(b.conv("stem1.1.weight", c, c, 3));
        stem_bns_.push_back(b.batch_norm("stem1.2", c, true));
        c_pp = c_p = c;
        reduction_prev = true;
    } else {
        stem_convs_.push_back(b.conv("stem.0.weight", 3 * c, cfg_.in_channels, 3));
        stem_bns_.push_back(b.batch_norm("stem.1", 3 * c, true));
        c_pp = c_p = 3 * c;
        reduction_prev = false;
    }
    int c_aux = 0;
    for (int i = 0; i < cfg_.layers; ++i) {
        const bool reduction = cfg_.is_reduction(i);
        if (reduction) c_curr *= 2;
        cells_.push_back(std::make_unique<Cell>(cfg_.genotype, i, c_pp, c_p, c_curr, reduction,
                                                reduction_prev, b));
        reduction_prev = reduction;
        c_pp = c_p;
        c_p = cells_.back()->multiplier() * c_curr;
        if (i == cfg_.aux_cell()) c_aux = c_p;
    }
    if (cfg_.auxiliary) aux_ = std::make_unique<AuxHead>(c_aux, cfg_.classes, cfg_.imagenet, b);
    classifier_ = b.linear("classifier", cfg_.classes, c_p);
    Generator gen(seed);
    b.finalize(dev, gen);
}

EvalNetwork::~EvalNetwork() = default;

int64_t EvalNetwork::counted_parameters() const {
    int64_t n = 0;
    for (int i = 0; i < weights_.size(); ++i)
        if (weights_.names()[size_t(i)].find("auxiliary") == std::string::npos)
            n += weights_[i].numel();
    return n;
}

Var EvalNetwork::stem(const Var& x, const Forward& f) const {
    if (!cfg_.imagenet) return f.bn(conv2d(x, f.w(stem_convs_[0]), 1, 1), stem_bns_[0]);
    Var h = relu(f.bn(conv2d(x, f.w(stem_convs_[0]), 2, 1), stem_bns_[0]));
    return f.bn(conv2d(h, f.w(stem_convs_[1]), 2, 1), stem_bns_[1]);
}

EvalNetwork::Output EvalNetwork::forward(const Var& x, ForwardMode mode, float drop_path_prob,
                                         Generator& gen) {
    CUDARTS_CHECK(
        x.value().ndim() == 4 && x.size(1) == cfg_.in_channels,
        "EvalNetwork: expected images (n, " << cfg_.in_channels << ", h, w), got " << x.value());
    const Forward f{weights_, buffers_, mode};
    Output out;
    Var s0 = stem(x, f);
    Var s1 = s0;
    if (cfg_.imagenet) s1 = f.bn(conv2d(relu(s0), f.w(stem_convs_[2]), 2, 1), stem_bns_[2]);
    for (size_t i = 0; i < cells_.size(); ++i) {
        Var next = cells_[i]->forward(s0, s1, f, drop_path_prob, gen);
        s0 = s1;
        s1 = next;
        if (int(i) == cfg_.aux_cell() && aux_ && mode.training)
            out.logits_aux = aux_->forward(s1, f);
    }
    out.logits = f.linear(global_avg_pool(s1), classifier_);
    return out;
}

}  // namespace cudarts
