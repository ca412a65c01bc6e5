// The DARTS architect; see models/darts/architect.h and reference/darts.md section 4.
#include "models/darts/architect.h"

#include <cmath>

#include "autograd/dispatch.h"
#include "kernels/check.h"
#include "kernels/elementwise.h"

namespace cudarts {

namespace {

// y += a * x over whole flat buffers on their device.
void axpy(const Tensor& y, float a, const Tensor& x) {
    CUDARTS_CHECK(y.numel() == x.numel(), "architect axpy: " << y << " vs " << x);
    CUDARTS_DISPATCH(y.device(), axpy, y.f32(), a, x.f32(), y.numel());
}

}  // namespace

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
    if (!w_saved_.defined()) {
        w_saved_ = Tensor::empty(w.shape(), w.device());
        dw_ = Tensor::empty(w.shape(), w.device());
        dalpha_ = Tensor::empty(galpha.shape(), galpha.device());
        g_plus_ = Tensor::empty(galpha.shape(), galpha.device());
    }

    // 1. Virtual step: gw = g; w' = w - η (μ buf + (g + λ w)), unclipped.
    backward(batch_loss(net_, train), weight_vars_);
    w_saved_.copy_(w);
    axpy(gw, opt_.w_weight_decay, w);  // gw = g + λ w
    if (momentum_buf.defined()) axpy(gw, opt_.w_momentum, momentum_buf);
    axpy(w, -eta, gw);

    // 2. dα and dw' at w' in one backward; the running statistics stay untouched.
    const Var loss = batch_loss(net_, val, {.training = true, .track_stats = false});
    val_loss_ = loss.value().item();
    std::vector<Var> both = weight_vars_;
    both.insert(both.end(), alpha_vars_.begin(), alpha_vars_.end());
    backward(loss, both);
    dalpha_.copy_(galpha);
    dw_.copy_(gw);

    // 3. Central difference around the original w.
    const double norm = std::sqrt(squared_norm(dw_));
    if (!std::isfinite(norm)) {  // diverged: put w back, the caller names the step
        w.copy_(w_saved_);
        throw DivergedError(std::string("the norm of the architect's validation gradient at w' "
                                        "is ") +
                            (std::isnan(norm) ? "NaN" : "inf"));
    }
    r_ = norm > 0 ? 0.01 / norm : 0.0;
    if (r_ == 0) {  // dw' = 0: the Hessian term vanishes
        w.copy_(w_saved_);
        galpha.copy_(dalpha_);
        return;
    }
    const float r = float(r_);
    w.copy_(w_saved_);
    axpy(w, r, dw_);
    backward(batch_loss(net_, train), alpha_vars_);
    g_plus_.copy_(galpha);
    w.copy_(w_saved_);
    axpy(w, -r, dw_);
    backward(batch_loss(net_, train), alpha_vars_);
    w.copy_(w_saved_);

    // 4. ∇α = dα - η (g+ - g-) / (2R), built in g_plus_ and copied into α's gradient.
    axpy(g_plus_, -1.f, galpha);  // g+ - g-
    galpha.copy_(dalpha_);
    axpy(galpha, float(-double(eta) / (2.0 * r_)), g_plus_);
}

}  // namespace cudarts
