// Named parameters in flat buffers (DESIGN decision 3). A model registers (name, shape) pairs in
// the reference's registration order, then `finalize` allocates one value buffer and one gradient
// buffer and hands out leaf Vars that are views into them. Optimizer updates, gradient clipping
// and checkpoints then touch one contiguous buffer each, and the names are the PyTorch
// state_dict keys.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/var.h"
#include "engine/rng.h"
#include "kernels/optim.h"

namespace cudarts {

class ParamStore {
public:
    // Registration; returns the parameter's index. Names must be unique.
    int add(const std::string& name, const Shape& shape);
    // Allocates the flat buffers on `dev` (values zeroed) and creates the Vars.
    void finalize(Device dev);
    bool finalized() const { return !vars_.empty() || names_.empty(); }

    int size() const { return int(names_.size()); }
    const Var& operator[](int i) const { return vars_.at(size_t(i)); }
    const Var& get(const std::string& name) const;  // throws Error naming the unknown key
    const std::vector<std::string>& names() const { return names_; }
    const std::vector<Var>& vars() const { return vars_; }
    int64_t total() const { return total_; }  // number of scalars
    const Tensor& flat_values() const { return values_; }
    const Tensor& flat_grads() const { return grads_; }

    // Fills parameter i with U(-bound, bound) or a constant.
    void init_uniform(int i, float bound, Generator& gen);
    void init_constant(int i, float value);

private:
    std::vector<std::string> names_;
    std::vector<Shape> shapes_;
    std::vector<int64_t> offsets_;
    std::unordered_map<std::string, int> index_;
    std::vector<Var> vars_;
    Tensor values_, grads_;
    int64_t total_ = 0;
};

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

// Global L2 norm of all gradients; if above max_norm, scales them by max_norm / (norm + 1e-6)
// (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
double clip_grad_norm(const ParamStore& params, double max_norm);

}  // namespace cudarts
