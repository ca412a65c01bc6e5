// The flat-buffer optimizers and gradient clipping; see models/nn/optim.h.
#include "models/nn/optim.h"

#include <cmath>

#include "autograd/dispatch.h"
#include "kernels/check.h"
#include "kernels/elementwise.h"

namespace cudarts {

void Sgd::step() {
    const bool first = !buf_.defined();
    if (first) buf_ = Tensor::empty({params_.total()}, params_.flat_values().device());
    CUDARTS_DISPATCH(buf_.device(), sgd_step, params_.flat_values().f32(), buf_.f32(),
                     params_.flat_grads().f32(), params_.total(), opt_, first);
}

void Sgd::set_momentum_buffer(const Tensor& buf) {
    if (!buf.defined()) {
        buf_ = Tensor();
        return;
    }
    CUDARTS_CHECK(buf.numel() == params_.total(), "Sgd: momentum buffer of "
                                                      << buf.numel() << " values for "
                                                      << params_.total() << " parameters");
    buf_ = Tensor::empty({params_.total()}, params_.flat_values().device());
    buf_.copy_(buf);
}

Adam::Adam(const ParamStore& params, AdamOptions opt) : params_(params), opt_(opt) {
    m_ = Tensor::zeros({params_.total()}, params_.flat_values().device());
    v_ = Tensor::zeros({params_.total()}, params_.flat_values().device());
}

void Adam::step() {
    ++t_;
    CUDARTS_DISPATCH(m_.device(), adam_step, params_.flat_values().f32(), m_.f32(), v_.f32(),
                     params_.flat_grads().f32(), params_.total(), opt_, t_);
}

void Adam::set_state(const Tensor& m, const Tensor& v, int64_t t) {
    CUDARTS_CHECK(m.numel() == m_.numel() && v.numel() == v_.numel() && t >= 0,
                  "Adam: state of " << m.numel() << "/" << v.numel() << " values for " << m_.numel()
                                    << " parameters, step " << t);
    m_.copy_(m);
    v_.copy_(v);
    t_ = t;
}

double squared_norm(const Tensor& t) {
    if (t.device().is_cpu()) return cpu::sum_squares(t.f32(), t.numel());
    Tensor out = Tensor::empty({1}, t.device());
    CUDARTS_CUDA_CALL(t.device(), sum_squares, out.f32(), t.f32(), t.numel());
    return out.item();
}

void axpy(const Tensor& y, float a, const Tensor& x) {
    CUDARTS_CHECK(y.numel() == x.numel() && y.device() == x.device(),
                  "axpy: " << y << " += a * " << x);
    CUDARTS_DISPATCH(y.device(), axpy, y.f32(), a, x.f32(), y.numel());
}

double clip_to_norm(const Tensor& t, double max_norm) {
    // The norm decides a host branch, so on a GPU it is read back (one sync per step).
    const double norm = std::sqrt(squared_norm(t));
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        CUDARTS_DISPATCH(t.device(), scale_fwd, t.f32(), t.f32(), float(coef), t.numel());
    return norm;
}

double clip_grad_norm(const ParamStore& params, double max_norm) {
    return clip_to_norm(params.flat_grads(), max_norm);
}

}  // namespace cudarts
