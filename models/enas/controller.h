// The ENAS macro controller of Katib (reference/katib.md 2.6-2.8): an LSTM that samples a whole
// feed-forward CNN layer by layer, in Katib's architecture encoding, and learns by REINFORCE with a
// moving-average baseline and Adam. It is tiny (H = 64) and always runs on the CPU.
//
// Variables (all U(-0.01, 0.01), no biases), named by their role in Katib's graph:
//   lstm.w (2H x 4H, gates i, f, o, g)   c' = s(i) tanh(g) + s(f) c,  h' = s(o) tanh(c')
//   g_emb (1 x H) start input, w_emb (m x H) op embedding, w_soft (H x m) op logits,
//   attn.w1, attn.w2 (H x H) and attn.v (H x 1) the skip attention.
// Layer l = 0 .. n-1, starting from c = h = 0 and input g_emb:
//   op: LSTM step; logits = T(h w_soft); op ~ softmax; LSTM step on w_emb[op].
//   skips (l > 0): q_j = tanh(h w2 + h_j w1) v for the stored h_0 .. h_{l-1}; logits T([-q_j,
//   q_j]);
//     bit_j ~ softmax; layer penalty sum_j,c s(L_jc) log(s(L_jc) / t_c), t = [1 - target, target];
//     next input sum_j bit_j h_j / (1 + sum_j bit_j)   (l = 0: g_emb). Then h and h w1 are stored.
//   T(x) = tanh_const * tanh(x / temperature), either part skipped when its setting is None.
// Totals: log_prob = sum of log-likelihoods (= -Katib's "sum of NLLs"), entropy = sum of
// p (-log p) of the chosen classes (a number, no gradient), skip penalty = mean over layers 1..n-1.
// Update: R = reward + entropy_weight * entropy; b <- b - (1 - decay)(b - R); then
//   loss = -log_prob (R - b) + skip_weight * skip_penalty, one Adam step (the gradient norm is
//   logged, not clipped). Katib's loss is sum_NLL (R - b): the same number, sign written out.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/var.h"
#include "engine/rng.h"
#include "models/enas/policy.h"  // ControllerSettings, UpdateStats, PolicyCore

namespace cudarts::enas {

// Katib encoding (2.3): row i (0-based) has i + 1 ints, the op (0 .. m-1) and then one 0/1 bit per
// earlier layer j = 0 .. i-1 (row[1 + j]).
using Architecture = std::vector<std::vector<int>>;

struct PolicyTerms {       // for one architecture, recorded on the tape (teacher forced)
    Var log_prob;          // one element: sum of log-likelihoods of all choices (= -sum NLL)
    double entropy = 0;    // sum of the p*(-log p) terms (gradient stopped, a number)
    Var skip_penalty;      // one element: mean over layers 1..n-1 (a constant 0 when n == 1)
    int skip_count = 0;    // number of bits set
    double skip_rate = 0;  // skip_count / (n(n-1)/2), 0 when n == 1
};

// The settings, variables, Adam and baseline with their accessors (weights(), optimizer(),
// baseline(), set_baseline(), settings()) come from PolicyCore (policy.h), sample(), score() and
// update() from Policy: sample draws one architecture in Katib's order (per layer the op, then
// its skip bits j = 0..l-1); update's loss adds the skip penalty.
class Controller : public Policy<Controller, Architecture, PolicyTerms> {
public:
    // U(-0.01, 0.01) init in registration order, deterministic by seed. InputError for
    // num_layers < 1, num_ops < 1 or invalid settings.
    Controller(int num_layers, int num_ops, ControllerSettings settings, uint64_t seed);

    // InputError unless arch has num_layers rows, row i has i + 1 ints, ops in 0..m-1, bits 0/1;
    // the message names rows 1-based, as 2.3 does ("architecture row 3: ...").
    void check(const Architecture& arch) const;

    int num_layers() const { return num_layers_; }
    int num_ops() const { return num_ops_; }

private:
    friend class Policy<Controller, Architecture, PolicyTerms>;
    PolicyTerms run(Walk<Architecture>& walk) const;   // one pass through the layers
    ScoredChoices scored(const PolicyTerms& t) const;  // with the skip penalty

    int num_layers_, num_ops_;
};

}  // namespace cudarts::enas
