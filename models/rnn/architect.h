// The recurrent DARTS architect (reference/darts.md 7.3; rnn/architect.py): the gradient of the
// loss on a search segment (PTB valid) with respect to α, and the Adam step that applies it. All
// its losses are the plain NLL (no TAR), in training mode, each forward with fresh dropout masks.
//
// First order: ∇α = ∂L_search(w, α)/∂α from the carried search hidden state.
// Second order, with η the weight optimizer's current lr (already scaled by seq_len / bptt):
//   1. virtual step on the train segment, from the train hidden state: g = ∂L_train/∂w,
//      κ = clip / (||g|| + 1e-6), g scaled by κ only when κ < 1, w' = w - η (g + λ w), no momentum;
//      the embedding (the tied encoder/decoder weight) stays at w, as the reference's unrolled copy
//      ends up holding it;
//   2. at w': dα and dw' of L_search (from the search hidden state, whose successor is returned),
//      without touching the batch-norm running statistics; dw' clipped to norm `clip`;
//   3. R = 0.01 / ||dw'||, g± = ∂L_train(w ± R dw', α)/∂α from the train hidden state;
//   4. ∇α = dα - η κ (g+ - g-) / (2R), with the UNCAPPED κ of step 1; w is restored exactly.
#pragma once

#include "data/text_corpus.h"
#include "models/nn/optim.h"
#include "models/nn/second_order.h"
#include "models/rnn/model.h"

namespace cudarts {

struct RnnArchitectOptions {
    bool second_order = false;
    AdamOptions adam{
        .lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-3f};
    float w_weight_decay = 5e-7f;  // λ of the virtual step (the weights' wdecay)
    float clip = 0.25f;            // the virtual step's and dw''s clip norm
};

// Mean NLL of the model on a segment from `hidden`; `next_hidden` (when given) receives h_T.
Var rnn_segment_loss(RnnModel& model, const TextSegment& seg, const Tensor& hidden,
                     ForwardMode mode, Generator& gen, Tensor* next_hidden = nullptr);

class RnnArchitect {
public:
    RnnArchitect(RnnModel& model, RnnArchitectOptions opt);

    // Writes ∇α into model.alphas().flat_grads() and returns the search hidden state after
    // `search`. The weights are unchanged afterwards (bitwise); the batch-norm running statistics
    // move with every forward on the real model, as the reference's do.
    Tensor compute_gradient(const TextSegment& train, const Tensor& train_hidden,
                            const TextSegment& search, const Tensor& search_hidden, float eta,
                            Generator& gen);
    // compute_gradient, then one Adam step on α.
    Tensor step(const TextSegment& train, const Tensor& train_hidden, const TextSegment& search,
                const Tensor& search_hidden, float eta, Generator& gen);

    Adam& optimizer() { return adam_; }
    const Adam& optimizer() const { return adam_; }
    const RnnArchitectOptions& options() const { return opt_; }
    double last_search_loss() const { return search_loss_; }  // at w (first order) or w'
    double last_kappa() const { return kappa_; }              // κ of the last virtual step
    double last_r() const { return r_; }

private:
    Tensor second_order_gradient(const TextSegment& train, const Tensor& train_hidden,
                                 const TextSegment& search, const Tensor& search_hidden, float eta,
                                 Generator& gen);

    RnnModel& model_;
    RnnArchitectOptions opt_;
    Adam adam_;
    std::vector<Var> weight_vars_, alpha_vars_;
    SecondOrderWork work_;
    double search_loss_ = 0, kappa_ = 0, r_ = 0;
};

}  // namespace cudarts
