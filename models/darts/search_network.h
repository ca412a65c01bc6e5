// The DARTS search network (reference/darts.md section 2; `model_search.py`'s Network).
//
// stem (conv 3x3 to stem_multiplier*C, affine BN) -> `layers` cells -> global mean pool ->
// Linear. Cell i is a reduction cell iff i is one of floor(L/3), floor(2L/3) (for L >= 3; Katib's
// rule for L = 2 reduces only cell 1, and L = 1 has no reduction cell), and reduction cells double
// C. Each cell: preprocess s0 (FactorizedReduce after a reduction cell, else ReLUConvBN) and s1,
// then `nodes` intermediate nodes; node i sums a MixedOp over every earlier state j (edge
// offset + j, stride 2 iff reduction and j < 2). The output concatenates the nodes.
//
// A MixedOp is sum_k softmax(alpha[edge])_k * op_k(x) over the primitives in α column order.
// alphas_normal / alphas_reduce (edges x primitives, init 1e-3 N(0,1)) are shared by all cells of
// a kind and live in their own store, outside the weights (no weight decay, clipping or SGD).
// All BNs except the stem's are affine=False; every pool is followed by a BN.
//
// forward_discrete runs the child network of one genotype inside this supernet (ENAS micro's
// shared weights): node i of a cell sums only its two genes, gene (op, input) running primitive
// `op` of edge edges_for(i) + input, with the supernet's weights and BN buffers; α is not read.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/darts/ops.h"

namespace cudarts {

struct Genotype;  // models/darts/genotype.h

struct SearchNetConfig {
    int in_channels = 3;
    int classes = 10;
    int init_channels = 16;  // C
    int layers = 8;
    int nodes = 4;  // intermediate nodes per cell (= concat multiplier)
    int stem_multiplier = 3;
    std::vector<std::string>
        primitives;  // official names in α column order; empty = the 8 of DARTS

    int edges() const { return int(edges_for(nodes)); }  // 14 for 4 nodes
    bool is_reduction(int cell) const;
    bool has_reduction() const { return layers >= 2; }
    // SettingError naming the offending setting; the sizes are bounded (layers 1..64,
    // init_channels 2..256, nodes 1..16, stem_multiplier 1..8) so that a typo cannot ask for
    // gigabytes.
    void validate() const;
    // InputError unless images of height x width pass through: each reduction cell halves the
    // maps with FactorizedReduce, which needs even sizes, so they must be multiples of 2^r.
    void require_fits(int height, int width) const;
};

// The keys of a SearchNetConfig in the options tables that write and read a run's options as JSON
// (models/run/loop.h fields_to_json; the DARTS search and ENAS micro mode): visitor(key, member).
template <class Net, class Visitor>
void search_net_fields(Net& net, const Visitor& f) {
    f("in_channels", net.in_channels);
    f("classes", net.classes);
    f("init_channels", net.init_channels);
    f("layers", net.layers);
    f("nodes", net.nodes);
    f("stem_multiplier", net.stem_multiplier);
    f("primitives", net.primitives);
}

class SearchNetwork : public ModelStores {
public:
    SearchNetwork(SearchNetConfig cfg, Device dev, uint64_t seed);
    ~SearchNetwork();

    // Logits (n, classes) for images (n, in_channels, h, w) on the network's device.
    Var forward(const Var& x, ForwardMode mode = {});
    // The logits of the child that genotype `g` names (see the note above). The backward of a
    // loss on them reaches only the ops the genes use (and the stem, preprocessing and
    // classifier); a backward to weights().vars() writes zeros to every other op's gradient. Two
    // genes of a node may name the same edge and op: the module then runs twice and both add up.
    // InputError ("genotype: ...") unless g has `nodes` nodes of two genes in each cell the
    // network has, inputs 0..i+1, ops among the primitives other than `none`, and concats empty or
    // range(2, 2 + nodes) (the search cell concatenates every node).
    Var forward_discrete(const Var& x, const Genotype& g, ForwardMode mode = {});

    const SearchNetConfig& config() const { return cfg_; }
    ParamStore& alphas() { return alphas_; }  // "alphas_normal", "alphas_reduce"
    const ParamStore& alphas() const { return alphas_; }
    const Var& alphas_normal() const { return alphas_[0]; }
    const Var& alphas_reduce() const { return alphas_[1]; }

private:
    struct Cell;
    SearchNetConfig cfg_;
    ParamStore alphas_;
    int stem_conv_ = 0;
    LinearRef classifier_;
    BatchNormRef stem_bn_;
    std::vector<std::unique_ptr<Cell>> cells_;
};

}  // namespace cudarts
