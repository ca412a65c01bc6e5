// The finite-difference Hessian-vector product that both DARTS architects take in their second
// order (reference/darts.md 4.2 steps 3-4, 7.3): given dα and dw' at the virtual weights w',
//   R = 0.01 / ||dw'||,  g± = ∂L_train(w ± R dw', α)/∂α,  ∇α = dα - coef (g+ - g-) / (2R),
// with coef = η (CNN) or η κ (RNN), and the weights restored bitwise afterwards. Each of w ± R dw'
// is one kernel over the flat weight buffer (DESIGN decision 3).
#pragma once

#include <functional>

#include "autograd/var.h"
#include "models/nn/params.h"

namespace cudarts {

// The work space: the saved w, dw', dα and g+, allocated on first use and kept between steps.
struct SecondOrderWork {
    Tensor w_saved, dw, dalpha, g_plus;
    void prepare(const Tensor& w, const Tensor& galpha);
    // Step 2's one backward of the loss at w' into both stores; keeps dw' and dα.
    void keep_gradients(const Var& loss, const ParamStore& weights, const ParamStore& alphas);
};

// Steps 3-4 with work.w_saved = w, work.dw = dw' and work.dalpha = dα already filled; `w` holds
// anything (it is restored first). `alpha_pass` runs the training loss's backward into `galpha`
// at the current w. Writes ∇α into galpha and returns R (0 when dw' = 0: then ∇α = dα). A
// non-finite ||dw'|| restores w and throws DivergedError "the norm of <gradient> at w' is NaN".
double finish_second_order(const Tensor& w, const Tensor& galpha, SecondOrderWork& work,
                           double coef, const std::function<void()>& alpha_pass,
                           const char* gradient);

}  // namespace cudarts
