// Shared child weights for the `enas` search (what Katib's ENAS page lists as missing): one store
// from which every child of the search space reads its weights, so that a child trains the part it
// uses and the next child that uses the same op at the same place starts from there, as in the
// ENAS paper.
//
// Katib's children concatenate a layer's inputs, whose widths depend on the ops chosen below, so a
// convolution's weight cannot be one fixed tensor. It is cut into blocks instead, one per input:
// block (layer l, op o, input layer j, width c) holds the part of the weight that reads a c-channel
// output of layer j (conv: (c_out, c, k, k); separable: the depthwise (c m, 1, k, k) and pointwise
// (c_out, c m, 1, 1) parts; depthwise: its (c m, 1, k, k) kernel with its bias and BN affine over
// those c m channels). A child's weight is the concatenation of its inputs' blocks, in input order,
// which is exactly the weight of the concatenated input. A conv or separable layer's bias and BN
// affine live in one block per (l, o); the classifier in one per input width. Blocks are created
// the first time a child needs them, initialised like enas-trial's (Glorot uniform, bias 0, gamma
// 1, beta 0) from a seed that depends only on the run's seed and the block's key, so the store is
// the same whatever order the children came in.
//
// BN always uses the batch's statistics here (no running averages: a block is shared by children
// whose activations differ), in training and when a child is scored. Each block has its own Adam
// state and steps only when a child that read it has trained.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "models/enas/child.h"
#include "models/nn/checkpoint.h"
#include "models/nn/optim.h"

namespace cudarts::enas {

class SharedWeights {
public:
    SharedWeights(Device dev, uint64_t seed, AdamOptions adam);

    // What one child reads: its layers' weights (concatenations of blocks), the classifier, every
    // leaf it reads (for backward) and the blocks (for the update).
    struct View {
        std::vector<LayerWeights> layers;
        Var classifier_weight, classifier_bias;
        std::vector<Var> params;
        std::vector<std::string> blocks;
    };
    // The view of the child with plan `plan` whose layer l runs op id `ops[l - 1]`; creates the
    // blocks it has not met.
    View view(const ChildPlan& plan, const std::vector<int>& ops);
    // One Adam step on every block of `v` (after a backward to v.params).
    void step(const View& v);

    size_t blocks() const { return blocks_.size(); }
    int64_t parameters() const;  // scalars over all blocks

    // Checkpoint: every block's tensors as "shared.<key>.<name>", its Adam moments as
    // "shared.<key>.adam.exp_avg" / ".exp_avg_sq", and in the metadata "shared_blocks" the keys,
    // tensor shapes and Adam step counts that load() recreates the blocks from.
    void save(CheckpointWriter& w, std::map<std::string, std::string>& metadata) const;
    // Replaces the store by the file's blocks; InputError naming the file when an entry is missing
    // or malformed.
    void load(const SafetensorsFile& f, const std::string& path);

private:
    struct TensorInit {
        std::string name;
        Shape shape;
        float bound;  // Glorot bound, or 0 for the constant `value`
        float value;
    };
    struct Block {
        std::unique_ptr<ParamStore> store;
        std::unique_ptr<Adam> adam;
    };
    // The block `key` with `tensors`, created (and initialised) on first use.
    Block& block(const std::string& key, const std::vector<TensorInit>& tensors);
    const Var& var(const std::string& key, const std::string& name) const;

    Device dev_;
    uint64_t seed_;
    AdamOptions adam_;
    std::map<std::string, Block> blocks_;
};

}  // namespace cudarts::enas
