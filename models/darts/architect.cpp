// The DARTS architect; see models/darts/architect.h and reference/darts.md section 4.
#include "models/darts/architect.h"

#include <cmath>

#include "kernels/check.h"
#include "models/nn/second_order.h"

namespace cudarts {

Var batch_loss(SearchNetwork& net, const Batch& batch, ForwardMode mode) {
    return cross_entropy(net.forward(Var(batch.images), mode), batch.labels);
}

Architect::Architect(SearchNetwork& net, ArchitectOptions opt)
    : net_(net), opt_(opt), adam_(net.alphas(), opt.adam) {
    weight_vars_ = net_.weights().vars();
    alpha_vars_ = net_.alphas().vars();
}

void Architect::compute_gradient(const Batch& train, const Batch& val, float eta,
                                 const Tensor& momentum_buf) {
    if (opt_.second_order) {
        second_order_gradient(train, val, eta, momentum_buf);
        return;
    }
    const Var loss = batch_loss(net_, val);
    val_loss_ = loss.value().item();
    backward(loss, alpha_vars_);
}

void Architect::step(const Batch& train, const Batch& val, float eta, const Tensor& momentum_buf) {
    compute_gradient(train, val, eta, momentum_buf);
    adam_.step();
}

void Architect::second_order_gradient(const Batch& train, const Batch& val, float eta,
                                      const Tensor& momentum_buf) {
    const Tensor& w = net_.weights().flat_values();
    const Tensor& gw = net_.weights().flat_grads();
    const Tensor& galpha = net_.alphas().flat_grads();
    work_.prepare(w, galpha);

    // 1. Virtual step: gw = g; w' = w - η (μ buf + (g + λ w)), unclipped.
    backward(batch_loss(net_, train), weight_vars_);
    work_.w_saved.copy_(w);
    axpy(gw, opt_.w_weight_decay, w);  // gw = g + λ w
    if (momentum_buf.defined()) axpy(gw, opt_.w_momentum, momentum_buf);
    axpy(w, -eta, gw);

    // 2. dα and dw' at w' in one backward; the running statistics stay untouched.
    const Var loss = batch_loss(net_, val, {.training = true, .track_stats = false});
    val_loss_ = loss.value().item();
    work_.keep_gradients(loss, net_.weights(), net_.alphas());

    // 3-4. The central difference around the original w, and ∇α = dα - η (g+ - g-) / (2R).
    r_ = finish_second_order(
        w, galpha, work_, double(eta), [&] { backward(batch_loss(net_, train), alpha_vars_); },
        "the architect's validation gradient");
}

}  // namespace cudarts
