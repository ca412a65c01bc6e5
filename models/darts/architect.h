// The DARTS architect (reference/darts.md section 4): the gradient of the validation loss with
// respect to the architecture α, and the Adam step that applies it.
//
// First order: ∇α = ∂L_val(w, α)/∂α, one forward and backward on the validation batch.
// Second order (`--order 2`, the paper's DARTS V2), with η the current weight learning rate:
//   1. virtual step  w' = w - η (μ buf + g + λ w),  g = ∂L_train(w, α)/∂w unclipped, buf the
//      weight optimizer's momentum buffer (zero before its first step);
//   2. at w': dα = ∂L_val(w', α)/∂α and dw' = ∂L_val(w', α)/∂w' (one backward); this forward
//      leaves the BN running statistics alone (the reference runs it on a throw-away copy);
//   3. R = 0.01 / ||dw'||, g± = ∂L_train(w ± R dw', α)/∂α (the ORIGINAL w is perturbed);
//   4. ∇α = dα - η (g+ - g-) / (2R), then w is restored exactly.
// The flat weight buffer (DESIGN decision 3) makes each of w', w ± R dw' and ||dw'|| one kernel.
// Gradients nobody needs are never computed: the weight passes skip α, the α passes skip w.
#pragma once

#include "data/loader.h"
#include "models/darts/search_network.h"
#include "models/nn/optim.h"
#include "models/nn/second_order.h"

namespace cudarts {

struct ArchitectOptions {
    bool second_order = false;
    AdamOptions adam{
        .lr = 3e-4f, .beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-3f};
    float w_momentum = 0.9f;  // the virtual step's, = the weight optimizer's
    float w_weight_decay = 3e-4f;
};

// Mean cross-entropy of the network on a batch.
Var batch_loss(SearchNetwork& net, const Batch& batch, ForwardMode mode = {});

class Architect {
public:
    Architect(SearchNetwork& net, ArchitectOptions opt);

    // Writes ∇α into net.alphas().flat_grads(). `eta` is the epoch's weight learning rate and
    // `momentum_buf` the weight SGD's buffer (undefined before its first step); both matter only
    // for the second order. The weights are unchanged afterwards (bitwise).
    void compute_gradient(const Batch& train, const Batch& val, float eta,
                          const Tensor& momentum_buf);
    // compute_gradient, then one Adam step on α.
    void step(const Batch& train, const Batch& val, float eta, const Tensor& momentum_buf);

    Adam& optimizer() { return adam_; }
    const Adam& optimizer() const { return adam_; }
    const ArchitectOptions& options() const { return opt_; }
    double last_val_loss() const { return val_loss_; }  // L_val of the last gradient (at w or w')
    double last_r() const { return r_; }                // R of the last second-order gradient

private:
    void second_order_gradient(const Batch& train, const Batch& val, float eta,
                               const Tensor& momentum_buf);

    SearchNetwork& net_;
    ArchitectOptions opt_;
    Adam adam_;
    std::vector<Var> weight_vars_, alpha_vars_;
    SecondOrderWork work_;
    double val_loss_ = 0, r_ = 0;
};

}  // namespace cudarts
