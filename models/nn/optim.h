// The optimizers and gradient clipping over a whole ParamStore (models/nn/params.h): each update
// is one kernel call over the store's flat value and gradient buffers (kernels/optim.h).
#pragma once

#include "kernels/optim.h"
#include "models/nn/params.h"

namespace cudarts {

// SGD with momentum and weight decay over a whole ParamStore in one call (kernels/optim.h).
class Sgd {
public:
    Sgd(const ParamStore& params, SgdOptions opt) : params_(params), opt_(opt) {}
    void step();  // uses the gradients written by the last backward
    void set_lr(float lr) { opt_.lr = lr; }
    float lr() const { return opt_.lr; }
    const SgdOptions& options() const { return opt_; }
    const Tensor& momentum_buffer() const { return buf_; }  // undefined before the first step
    // Checkpoint restore: a copy of a saved buffer (undefined: no step taken yet).
    void set_momentum_buffer(const Tensor& buf);

private:
    const ParamStore& params_;
    SgdOptions opt_;
    Tensor buf_;
};

// Adam (PyTorch 0.3.1, coupled L2, kernels/optim.h) over a whole ParamStore; the architect's
// optimizer for the alphas.
class Adam {
public:
    Adam(const ParamStore& params, AdamOptions opt);
    void step();  // uses the gradients in params.flat_grads()
    const AdamOptions& options() const { return opt_; }
    int64_t steps() const { return t_; }
    const Tensor& exp_avg() const { return m_; }
    const Tensor& exp_avg_sq() const { return v_; }
    // Checkpoint restore: copies of the saved moments and the step count.
    void set_state(const Tensor& m, const Tensor& v, int64_t t);

private:
    const ParamStore& params_;
    AdamOptions opt_;
    Tensor m_, v_;
    int64_t t_ = 0;
};

// Sum of squares of a float tensor on any device, accumulated in double on the CPU and in float
// by one deterministic block on a GPU (read back: one sync).
double squared_norm(const Tensor& t);

// y += a * x over whole flat buffers on their device (the architects' moves through weight space).
void axpy(const Tensor& y, float a, const Tensor& x);

// The L2 norm of t; when it is above max_norm, t is scaled by max_norm / (norm + 1e-6) in place.
// Returns the norm before clipping.
double clip_to_norm(const Tensor& t, double max_norm);

// Global L2 norm of all gradients; if above max_norm, scales them by max_norm / (norm + 1e-6)
// (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
double clip_grad_norm(const ParamStore& params, double max_norm);

}  // namespace cudarts
