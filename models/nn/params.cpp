// ParamStore: registration, the flat buffers and initialisation.
#include "models/nn/params.h"

#include "kernels/check.h"

namespace cudarts {

int ParamStore::add(const std::string& name, const Shape& shape) {
    CUDARTS_CHECK(vars_.empty(), "ParamStore::add('" << name << "') after finalize");
    CUDARTS_CHECK(index_.count(name) == 0, "ParamStore: duplicate parameter '" << name << "'");
    const int i = int(names_.size());
    index_[name] = i;
    names_.push_back(name);
    shapes_.push_back(shape);
    offsets_.push_back(total_);
    total_ += shape_numel(shape);
    return i;
}

void ParamStore::finalize(Device dev) {
    CUDARTS_CHECK(vars_.empty(), "ParamStore::finalize called twice");
    values_ = Tensor::zeros({total_}, dev);
    grads_ = Tensor::zeros({total_}, dev);
    for (size_t i = 0; i < names_.size(); ++i)
        vars_.push_back(Var::with_grad_buffer(values_.view(offsets_[i], shapes_[i]),
                                              grads_.view(offsets_[i], shapes_[i]), names_[i]));
}

const Var& ParamStore::get(const std::string& name) const {
    const auto it = index_.find(name);
    CUDARTS_CHECK(it != index_.end(), "ParamStore: no parameter '" << name << "'");
    return vars_.at(size_t(it->second));
}

void ParamStore::init_uniform(int i, float bound, Generator& gen) {
    Tensor t = vars_.at(size_t(i)).value();
    gen.uniform_(t, -bound, bound);
}

void ParamStore::init_constant(int i, float value) { vars_.at(size_t(i)).value().fill_(value); }

}  // namespace cudarts
