// The ENAS micro controller (Pham et al. 2018, the "micro" search space that Katib's ENAS page
// lists as missing, reference/katib.md 2.9): an LSTM that samples one DARTS cell of each kind,
// normal then reduce, over the primitives of the DARTS search without `none`. The result is a
// DARTS genotype (models/darts/genotype.h) that `cudarts train` accepts, and the child it names
// is a sub-network of the DARTS search network (SearchNetwork::forward_discrete).
//
// Variables and settings are the macro controller's (controller.h, shared through
// policy.h; U(-0.01, 0.01), no biases; temperature, tanh_const, entropy_weight, baseline_decay,
// learning_rate; the skip settings are unused): lstm.w (2H x 4H), g_emb (1 x H), w_emb (m x H),
// w_soft (H x m), attn.w1, attn.w2 (H x H), attn.v (H x 1), for m primitives. One walk, c = h = 0
// at the start, the state carried from the normal into the reduce cell; per cell:
//   input = g_emb; two LSTM steps, after each an anchor 0 (the value fed when the input is
//   chosen) and its key h w1 (inputs 0 = c_{k-2}, 1 = c_{k-1});
//   node i = 0 .. nodes-1 (inputs 0 .. i+1 available), four choices in ENAS's order:
//     input 1, input 2: LSTM step; q_j = tanh(key_j + h w2) v for j = 0..i+1; logits T(q);
//       j ~ softmax; next input = anchor_j;
//     op 1, op 2: LSTM step; logits T(h w_soft); op ~ softmax; next input = w_emb[op];
//     one more LSTM step; anchor i+2 = h, key h w1; next input g_emb.
//   T(x) = tanh_const * tanh(x / temperature), either part skipped when its setting is None.
// Totals: log_prob = sum of the log-likelihoods of the 8 nodes x 4 choices; entropy = sum over the
// choices of the whole distribution's entropy -sum_k p_k log p_k (ENAS's micro controller; the
// macro controller follows Katib's p (-log p) of the chosen class instead), a number without
// gradient. Update as the macro one without the skip penalty: R = reward + entropy_weight *
// entropy; b <- b - (1 - decay)(b - R); loss = -log_prob (R - b); one Adam step (TF defaults).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/var.h"
#include "engine/rng.h"
#include "models/darts/genotype.h"
#include "models/enas/controller.h"  // ControllerSettings, UpdateStats, PolicyCore (policy.h)

namespace cudarts::enas {

// One node's choices: inputs 0 .. i+1 for node i (0 = c_{k-2}, 1 = c_{k-1}, j >= 2 = node j-2),
// ops indices into MicroController::ops(). Node i computes op1(input1) + op2(input2).
struct MicroNode {
    int input1 = 0, input2 = 0, op1 = 0, op2 = 0;
    bool operator==(const MicroNode&) const = default;
};

struct MicroArch {
    std::vector<MicroNode> normal, reduce;  // one entry per node
    bool operator==(const MicroArch&) const = default;
};

struct MicroPolicyTerms {  // for one architecture, recorded on the tape (teacher forced)
    Var log_prob;          // one element: sum of the log-likelihoods of all choices
    double entropy = 0;    // sum of the choices' distribution entropies (a number)
};

// The settings, variables, Adam and baseline with their accessors (weights(), optimizer(),
// baseline(), set_baseline(), settings()) come from PolicyCore (policy.h), sample(), score() and
// update() from Policy: the macro controller's, in the order of this walk, without the skip
// penalty.
class MicroController : public Policy<MicroController, MicroArch, MicroPolicyTerms> {
public:
    // `primitives`: official or Katib names (e.g. the search network's list); `none` is dropped,
    // the rest keep their order as the op classes. U(-0.01, 0.01) init in registration order,
    // deterministic by seed. InputError for nodes outside 1..16, no primitive besides `none`, an
    // unknown name or invalid settings.
    MicroController(int nodes, const std::vector<std::string>& primitives,
                    ControllerSettings settings, uint64_t seed);

    // InputError unless both cells have nodes() entries, node i's inputs in 0..i+1 and ops in
    // 0..ops().size()-1; the message names the cell and the node (0-based, as genotypes do).
    void check(const MicroArch& arch) const;
    // The DARTS form: node i's genes (ops()[op1], input1), (ops()[op2], input2); concats
    // range(2, 2 + nodes). has_reduce false (a one-cell network) leaves reduce empty.
    Genotype genotype(const MicroArch& arch, bool has_reduce = true) const;

    int nodes() const { return nodes_; }
    const std::vector<std::string>& ops() const { return ops_; }  // official names, no `none`

private:
    friend class Policy<MicroController, MicroArch, MicroPolicyTerms>;
    MicroPolicyTerms run(Walk<MicroArch>& walk) const;  // one pass through both cells
    ScoredChoices scored(const MicroPolicyTerms& t) const;

    int nodes_;
    std::vector<std::string> ops_;
};

}  // namespace cudarts::enas
