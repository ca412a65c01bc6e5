// The DARTS search network; see models/darts/search_network.h and reference/darts.md section 2.
#include "models/darts/search_network.h"

#include <algorithm>

#include "kernels/check.h"
#include "models/darts/genotype.h"
#include "models/nn/setting.h"

namespace cudarts {

bool SearchNetConfig::is_reduction(int cell) const {
    if (layers == 1) return false;      // Katib: one normal cell, no reduce α in use
    if (layers == 2) return cell == 1;  // Katib's rule; the reference formula would reduce both
    return cell == layers / 3 || cell == 2 * layers / 3;
}

void SearchNetConfig::validate() const {
    require_image_io(in_channels, classes);
    require(init_channels >= 2 && init_channels <= 256 && init_channels % 2 == 0, "init_channels",
            "an even number in 2..256", init_channels);
    require(layers >= 1 && layers <= 64, "layers", "1..64", layers);
    require(nodes >= 1 && nodes <= 16, "nodes", "1..16", nodes);
    require(stem_multiplier >= 1 && stem_multiplier <= 8, "stem_multiplier", "1..8",
            stem_multiplier);
    require(primitives.size() >= 1 && primitives.size() <= 16, "primitives", "1..16 primitives",
            primitives.size());
}

void SearchNetConfig::require_fits(int height, int width) const {
    int reductions = 0;
    for (int i = 0; i < layers; ++i) reductions += is_reduction(i);
    require_halvable(height, width, height, width, reductions, "this search network",
                     "height and width multiples of " + std::to_string(1 << reductions));
}

namespace {

// One gene of a discrete cell as the search network numbers it: primitive `op` (column of α) of
// edge `edge`, applied to state `input`.
struct DiscretePick {
    int edge, op, input;
};

// The picks of one cell's genes, node i's at 2i and 2i + 1; InputError naming `kind`'s genes.
std::vector<DiscretePick> discrete_picks(const SearchNetConfig& cfg, const std::vector<Gene>& genes,
                                         const std::vector<int>& concat, const char* kind) {
    const std::string what = std::string("genotype: ") + kind;
    if (int(genes.size()) != 2 * cfg.nodes)
        throw InputError(what + ": expected " + std::to_string(2 * cfg.nodes) +
                         " genes (two per node of this search network), got " +
                         std::to_string(genes.size()));
    std::vector<int> all_nodes;
    for (int c = 2; c < 2 + cfg.nodes; ++c) all_nodes.push_back(c);
    if (!concat.empty() && concat != all_nodes)
        throw InputError(what + "_concat: expected range(2, " + std::to_string(2 + cfg.nodes) +
                         ") (the search cell concatenates every node)");
    std::vector<DiscretePick> picks;
    for (int g = 0; g < int(genes.size()); ++g) {
        const int node = g / 2;
        const Gene& gene = genes[size_t(g)];
        const std::string at =
            what + " gene " + std::to_string(g) + " (node " + std::to_string(node) + ")";
        if (gene.input < 0 || gene.input > node + 1)
            throw InputError(at + ": input " + std::to_string(gene.input) + " outside 0.." +
                             std::to_string(node + 1));
        // The column of the gene's op; names compared in official form (either list may use
        // Katib's names).
        const PrimitiveSpec* spec = find_primitive(gene.op);
        int column = -1;
        for (size_t k = 0; k < cfg.primitives.size() && spec; ++k)
            if (find_primitive(cfg.primitives[k]) == spec) column = int(k);
        if (gene.op == "none" || column < 0)
            throw InputError(at + ": op '" + gene.op +
                             "' is not one of this search network's primitives other than none");
        picks.push_back({int(edges_for(node)) + gene.input, column, gene.input});
    }
    return picks;
}

}  // namespace

// One search cell; its modules are registered under `cells.<i>`.
struct SearchNetwork::Cell {
    bool reduction;
    int nodes;
    std::unique_ptr<Primitive> pre0;  // FactorizedReduce or ReLUConvBN
    std::unique_ptr<ReluConvBn> pre1;
    std::vector<std::vector<std::unique_ptr<Primitive>>> edges;  // [edge][primitive]

    Cell(const SearchNetConfig& cfg, int index, int c_pp, int c_p, int c, bool reduction_,
         bool reduction_prev, ModelBuilder& b)
        : reduction(reduction_), nodes(cfg.nodes) {
        const std::string at = "cells." + std::to_string(index);
        if (reduction_prev) {
            pre0 = std::make_unique<FactorizedReduce>(c_pp, c, false, b, at + ".preprocess0");
        } else {
            pre0 = std::make_unique<ReluConvBn>(c_pp, c, false, b, at + ".preprocess0");
        }
        pre1 = std::make_unique<ReluConvBn>(c_p, c, false, b, at + ".preprocess1");
        const OpOptions opt{.affine = false, .bn_after_pool = true};
        int edge = 0;
        for (int i = 0; i < nodes; ++i)
            for (int j = 0; j < i + 2; ++j, ++edge) {
                const int stride = reduction && j < 2 ? 2 : 1;
                auto& ops = edges.emplace_back();
                for (size_t k = 0; k < cfg.primitives.size(); ++k)
                    ops.push_back(make_primitive(
                        cfg.primitives[k], c, stride, opt, b,
                        at + "._ops." + std::to_string(edge) + "._ops." + std::to_string(k)));
            }
    }

    // Node i sums the mixed edges from states 0 .. i+1 (edge i(i+3)/2 + j from state j), in that
    // order. The edges leaving the states that are ready run together through forward_staged:
    // first all edges from s0 and s1, then, as each node completes, the edges leaving it, so the
    // convs and norms of each stage of those edges are grouped launches. Once its last edge has
    // run, a node is one mixed_node over all its edges' candidates: the per-edge mixed sums added
    // in edge order, so the function is the same as node by node.
    // `weights` is softmax(alphas) of this cell's kind, (edges, K): edge e reads row e in place,
    // and a node's edges are consecutive rows.
    Var forward(const Var& s0, const Var& s1, const Var& weights, const Forward& f) const {
        std::vector<Var> states{pre0->forward(s0, f), pre1->forward(s1, f)};
        const int64_t k = weights.size(1);
        std::vector<std::vector<Var>> node_ys(static_cast<size_t>(nodes));  // edge after edge
        const auto edge_of = [](int i, int j) { return i * (i + 3) / 2 + j; };
        // The edges leaving states [from, to).
        const auto run_from = [&](int from, int to) {
            std::vector<const Primitive*> ops;
            std::vector<int> input_of;
            for (int j = from; j < to; ++j)
                for (int i = std::max(0, j - 1); i < nodes; ++i)
                    for (const auto& op : edges[size_t(edge_of(i, j))]) {
                        ops.push_back(op.get());
                        input_of.push_back(j - from);
                    }
            const std::vector<Var> ys =
                forward_staged(ops, input_of, {states.begin() + from, states.begin() + to}, f);
            size_t next = 0;
            for (int j = from; j < to; ++j)
                for (int i = std::max(0, j - 1); i < nodes; ++i) {
                    std::vector<Var>& node = node_ys[size_t(i)];
                    node.insert(node.end(), ys.begin() + int64_t(next),
                                ys.begin() + int64_t(next) + k);
                    next += size_t(k);
                }
        };
        run_from(0, 2);
        for (int i = 0; i < nodes; ++i) {
            // Node i's last edge, from state i + 1, has run: its edges are complete.
            states.push_back(mixed_node(node_ys[size_t(i)], weights, edge_of(i, 0) * k, int(k)));
            if (i + 1 < nodes) run_from(i + 2, i + 3);
        }
        return concat_channels({states.begin() + 2, states.end()});
    }

    // The discrete child: node i = op_2i(states[in_2i]) + op_2i+1(states[in_2i+1]).
    Var forward_discrete(const Var& s0, const Var& s1, const std::vector<DiscretePick>& picks,
                         const Forward& f) const {
        std::vector<Var> states{pre0->forward(s0, f), pre1->forward(s1, f)};
        for (int i = 0; i < nodes; ++i) {
            Var node;
            for (int g = 2 * i; g < 2 * i + 2; ++g) {
                const DiscretePick& p = picks[size_t(g)];
                const Var y =
                    edges[size_t(p.edge)][size_t(p.op)]->forward(states[size_t(p.input)], f);
                node = node.defined() ? add(node, y) : y;
            }
            states.push_back(node);
        }
        return concat_channels({states.begin() + 2, states.end()});
    }
};

SearchNetwork::SearchNetwork(SearchNetConfig cfg, Device dev, uint64_t seed)
    : ModelStores(dev), cfg_(std::move(cfg)) {
    if (cfg_.primitives.empty()) cfg_.primitives = darts_primitives();
    cfg_.validate();
    ModelBuilder b(weights_, buffers_);
    const int c = cfg_.init_channels;
    const int c_stem = cfg_.stem_multiplier * c;
    stem_conv_ = b.conv("stem.0.weight", c_stem, cfg_.in_channels, 3);
    stem_bn_ = b.batch_norm("stem.1", c_stem, true);
    int c_pp = c_stem, c_p = c_stem, c_curr = c;
    bool reduction_prev = false;
    for (int i = 0; i < cfg_.layers; ++i) {
        const bool reduction = cfg_.is_reduction(i);
        if (reduction) c_curr *= 2;
        cells_.push_back(
            std::make_unique<Cell>(cfg_, i, c_pp, c_p, c_curr, reduction, reduction_prev, b));
        reduction_prev = reduction;
        c_pp = c_p;
        c_p = cfg_.nodes * c_curr;
    }
    classifier_ = b.linear("classifier", cfg_.classes, c_p);
    Generator gen(seed);
    b.finalize(dev, gen);

    // α: 1e-3 N(0, 1), drawn after the weights from the same stream.
    const int64_t k = int64_t(cfg_.primitives.size());
    alphas_.add("alphas_normal", {cfg_.edges(), k});
    alphas_.add("alphas_reduce", {cfg_.edges(), k});
    alphas_.finalize(dev);
    Tensor a = alphas_.flat_values();
    gen.normal_(a, 0.f, 1e-3f);
}

SearchNetwork::~SearchNetwork() = default;

Var SearchNetwork::forward(const Var& x, ForwardMode mode) {
    CUDARTS_CHECK(
        x.value().ndim() == 4 && x.size(1) == cfg_.in_channels,
        "SearchNetwork: expected images (n, " << cfg_.in_channels << ", h, w), got " << x.value());
    const Forward f{weights_, buffers_, mode};
    Var s0 = f.bn(conv2d(x, f.w(stem_conv_), 1, 1), stem_bn_);
    Var s1 = s0;
    // The softmax of each kind's α once for all its cells (two launches, not one per edge).
    const Var w_normal = softmax(alphas_normal());
    const Var w_reduce = cfg_.has_reduction() ? softmax(alphas_reduce()) : Var();
    for (const auto& cell : cells_) {
        Var out = cell->forward(s0, s1, cell->reduction ? w_reduce : w_normal, f);
        s0 = s1;
        s1 = out;
    }
    return f.linear(global_avg_pool(s1), classifier_);
}

Var SearchNetwork::forward_discrete(const Var& x, const Genotype& g, ForwardMode mode) {
    CUDARTS_CHECK(
        x.value().ndim() == 4 && x.size(1) == cfg_.in_channels,
        "SearchNetwork: expected images (n, " << cfg_.in_channels << ", h, w), got " << x.value());
    const std::vector<DiscretePick> normal =
        discrete_picks(cfg_, g.normal, g.normal_concat, "normal");
    std::vector<DiscretePick> reduce;
    if (cfg_.has_reduction()) reduce = discrete_picks(cfg_, g.reduce, g.reduce_concat, "reduce");
    const Forward f{weights_, buffers_, mode};
    Var s0 = f.bn(conv2d(x, f.w(stem_conv_), 1, 1), stem_bn_);
    Var s1 = s0;
    for (const auto& cell : cells_) {
        Var out = cell->forward_discrete(s0, s1, cell->reduction ? reduce : normal, f);
        s0 = s1;
        s1 = out;
    }
    return f.linear(global_avg_pool(s1), classifier_);
}

}  // namespace cudarts
