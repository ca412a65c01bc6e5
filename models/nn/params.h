// Named parameters in flat buffers (DESIGN decision 3). A model registers (name, shape) pairs in
// the reference's registration order, then `finalize` allocates one value buffer and one gradient
// buffer and hands out leaf Vars that are views into them. Optimizer updates, gradient clipping
// (models/nn/optim.h) and checkpoints then touch one contiguous buffer each, and the names are the
// PyTorch state_dict keys.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/var.h"
#include "engine/rng.h"

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

}  // namespace cudarts
