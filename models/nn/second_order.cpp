// The second-order architects' Hessian-vector product; see models/nn/second_order.h.
#include "models/nn/second_order.h"

#include <cmath>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "models/nn/optim.h"

namespace cudarts {

void SecondOrderWork::prepare(const Tensor& w, const Tensor& galpha) {
    if (w_saved.defined()) return;
    w_saved = Tensor::empty(w.shape(), w.device());
    dw = Tensor::empty(w.shape(), w.device());
    dalpha = Tensor::empty(galpha.shape(), galpha.device());
    g_plus = Tensor::empty(galpha.shape(), galpha.device());
}

void SecondOrderWork::keep_gradients(const Var& loss, const ParamStore& weights,
                                     const ParamStore& alphas) {
    std::vector<Var> both = weights.vars();
    both.insert(both.end(), alphas.vars().begin(), alphas.vars().end());
    backward(loss, both);
    dalpha.copy_(alphas.flat_grads());
    dw.copy_(weights.flat_grads());
}

double finish_second_order(const Tensor& w, const Tensor& galpha, SecondOrderWork& work,
                           double coef, const std::function<void()>& alpha_pass,
                           const char* gradient) {
    w.copy_(work.w_saved);
    const double norm = std::sqrt(squared_norm(work.dw));
    if (!std::isfinite(norm))  // diverged: w is back, the caller names the step
        throw DivergedError(std::string("the norm of ") + gradient + " at w' is " +
                            (std::isnan(norm) ? "NaN" : "inf"));
    const double r = norm > 0 ? 0.01 / norm : 0.0;
    if (r == 0) {  // dw' = 0: the Hessian term vanishes
        galpha.copy_(work.dalpha);
        return 0;
    }
    axpy(w, float(r), work.dw);
    alpha_pass();
    work.g_plus.copy_(galpha);
    w.copy_(work.w_saved);
    axpy(w, float(-r), work.dw);
    alpha_pass();
    w.copy_(work.w_saved);

    axpy(work.g_plus, -1.f, galpha);  // g+ - g-
    galpha.copy_(work.dalpha);
    axpy(galpha, float(-coef / (2.0 * r)), work.g_plus);
    return r;
}

}  // namespace cudarts
