// The DARTS evaluation networks built from a genotype (reference/darts.md section 6; `model.py`):
// NetworkCIFAR and NetworkImageNet, with affine BN everywhere, bare pools, drop path, and the
// auxiliary head. Parameter names are the reference's state_dict keys (`cells.N._ops.K...`, K the
// position in the gene list; `auxiliary_head.features.*` before `classifier.*`).
//
// Cell: preprocess s0 (FactorizedReduce after a reduction cell, else ReLUConvBN) and s1; node i
// = op_2i(states[in_2i]) + op_2i+1(states[in_2i+1]), ops of a reduction cell with stride 2 when
// they read an input (index < 2); in training with drop_prob > 0 each non-identity op's output
// goes through drop path. Output: the concat nodes, in the listed order.
// CIFAR: stem conv 3x3 to 3C + BN; reductions at L/3 and 2L/3; auxiliary head on cell 2L/3's
// output (ReLU, avgpool 5/3, 1x1 to 128, BN, ReLU, 2x2 to 768, BN, ReLU, linear), loss weight 0.4.
// ImageNet: stem0 (conv 3x3/2 to C/2, BN, ReLU, conv 3x3/2 to C, BN), stem1 (ReLU, conv 3x3/2, BN),
// cell 0 treats its input as after a reduction; head: global average pool (AvgPool 7 on 7x7);
// auxiliary head with avgpool 5/2 and no BN after the 2x2 conv.
#pragma once

#include <memory>
#include <vector>

#include "models/darts/genotype.h"
#include "models/darts/ops.h"

namespace cudarts {

struct EvalNetConfig {
    int in_channels = 3;
    int classes = 10;
    int init_channels = 36;  // C
    int layers = 20;
    bool auxiliary = false;
    bool imagenet = false;  // NetworkImageNet instead of NetworkCIFAR
    Genotype genotype;

    int aux_cell() const { return 2 * layers / 3; }
    bool is_reduction(int cell) const { return cell == layers / 3 || cell == 2 * layers / 3; }
    // SettingError naming the offending setting; layers 3..100 and init_channels 2..512.
    void validate() const;
    // InputError unless images of height x width pass through: the ImageNet stem divides them by
    // 4 and 2, each of the two reduction cells halves even sizes only (FactorizedReduce).
    void require_fits(int height, int width) const;
};

// Whether the auxiliary head can read cell aux_cell()'s output for height x width images. It pools
// 5x5 windows with stride 3 (CIFAR) or 2 (ImageNet), then its 2x2 convolution needs 2x2 of them:
// square maps of at least auxiliary_map_needed() = 8 (CIFAR) or 7 (ImageNet) on a side, where
// auxiliary_map_side() = min(height, width) / 4 (CIFAR) or / 32 (ImageNet), rounded down. CIFAR's
// 32x32 fits (8x8), 28x28 Fashion-MNIST does not (7x7); ImageNet's 224x224 fits (7x7), 192x192
// does not (6x6). `net.auxiliary` is not looked at.
int auxiliary_map_side(const EvalNetConfig& net, int height, int width);
int auxiliary_map_needed(const EvalNetConfig& net);
bool auxiliary_fits(const EvalNetConfig& net, int height, int width);

class EvalNetwork : public ModelStores {
public:
    EvalNetwork(EvalNetConfig cfg, Device dev, uint64_t seed);
    ~EvalNetwork();

    struct Output {
        Var logits;
        Var logits_aux;  // defined only in training mode with the auxiliary head
    };
    // `gen` draws the drop-path masks (used only in training with drop_path_prob > 0).
    Output forward(const Var& x, ForwardMode mode, float drop_path_prob, Generator& gen);

    const EvalNetConfig& config() const { return cfg_; }
    // What the reference's count_parameters_in_MB counts (x 1e6): every weight whose name does
    // not contain "auxiliary".
    int64_t counted_parameters() const;

private:
    struct Cell;
    struct AuxHead;
    Var stem(const Var& x, const Forward& f) const;

    EvalNetConfig cfg_;
    std::vector<int> stem_convs_;
    std::vector<BatchNormRef> stem_bns_;
    std::vector<std::unique_ptr<Cell>> cells_;
    std::unique_ptr<AuxHead> aux_;
    LinearRef classifier_;
};

}  // namespace cudarts
