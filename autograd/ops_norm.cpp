// Differentiable batch normalisation. Training mode keeps the batch mean and 1/std for backward;
// eval mode is an affine map of x with the running statistics. Running buffers are plain Tensors
// updated in place (they are state, not parameters, and get no gradient).
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/batchnorm.h"

namespace cudarts {

using detail::new_output;
using detail::op_device;

// The backward kernel writes dx, dgamma and dbeta with one GradMode. They may need different
// modes (x feeding two consumers while gamma is fresh), so call it once per mode that occurs,
// passing only the gradients written with that mode.
template <class Fn>
static void for_each_write_mode(const Var& x, const Var& gamma, const Var& beta, Fn&& call) {
    float* out[3] = {nullptr, nullptr, nullptr};
    GradMode mode[3] = {GradMode::kOverwrite, GradMode::kOverwrite, GradMode::kOverwrite};
    const Var* vars[3] = {&x, &gamma, &beta};
    for (int i = 0; i < 3; ++i)
        if (vars[i]->needs_grad()) {
            out[i] = vars[i]->grad_data();
            mode[i] = vars[i]->grad_write_mode();
        }
    for (GradMode m : {GradMode::kOverwrite, GradMode::kAccumulate}) {
        float* pick[3];
        bool any = false;
        for (int i = 0; i < 3; ++i) {
            pick[i] = (out[i] && mode[i] == m) ? out[i] : nullptr;
            any = any || pick[i];
        }
        if (any) call(pick[0], pick[1], pick[2], m);
    }
}

Var batch_norm(const Var& x, const Var& gamma, const Var& beta, const Tensor& running_mean,
               const Tensor& running_var, bool training, float momentum, float eps) {
    const Device dev = op_device("batch_norm", {&x, &gamma, &beta});
    CUDARTS_CHECK(x.value().ndim() >= 2, "batch_norm: expected (n, c, ...), got " << x.value());
    CUDARTS_CHECK(gamma.defined() == beta.defined(),
                  "batch_norm: gamma and beta must both be given (affine) or both be absent");
    const int n = int(x.size(0)), c = int(x.size(1));
    const BatchNormShape s{n, c, int(x.numel() / (int64_t(n) * c))};
    s.validate();
    for (const Var* p : {&gamma, &beta})
        if (p->defined())
            CUDARTS_CHECK(p->numel() == c, "batch_norm: affine parameter " << p->value() << " for "
                                                                           << c << " channels");
    const bool track = running_mean.defined();
    if (track)
        CUDARTS_CHECK(
            running_var.defined() && running_mean.numel() == c && running_var.numel() == c &&
                running_mean.device() == dev && running_var.device() == dev,
            "batch_norm: running statistics do not match " << c << " channels on " << dev);
    const float* g = gamma.defined() ? gamma.data() : nullptr;
    const float* b = beta.defined() ? beta.data() : nullptr;
    Var y = new_output(x.shape(), dev);

    if (!training) {
        CUDARTS_CHECK(track, "batch_norm: eval mode needs running statistics");
        CUDARTS_DISPATCH(dev, batch_norm_fwd_eval, y.data(), x.data(), g, b, running_mean.f32(),
                         running_var.f32(), s, eps);
        record("batch_norm_eval", {x, gamma, beta}, {y},
               [x, gamma, beta, y, running_mean, running_var, s, eps, dev] {
                   for_each_write_mode(
                       x, gamma, beta, [&](float* dx, float* dg, float* db, GradMode mode) {
                           CUDARTS_DISPATCH(dev, batch_norm_bwd_eval, dx, dg, db, y.grad().f32(),
                                            x.data(), gamma.defined() ? gamma.data() : nullptr,
                                            running_mean.f32(), running_var.f32(), s, eps, mode);
                       });
               });
        return y;
    }

    Tensor save_mean = Tensor::empty({c}, dev), save_invstd = Tensor::empty({c}, dev);
    CUDARTS_DISPATCH(dev, batch_norm_fwd_train, y.data(), save_mean.f32(), save_invstd.f32(),
                     track ? running_mean.f32() : nullptr, track ? running_var.f32() : nullptr,
                     x.data(), g, b, s, momentum, eps);
    record("batch_norm", {x, gamma, beta}, {y},
           [x, gamma, beta, y, save_mean, save_invstd, s, dev] {
               for_each_write_mode(
                   x, gamma, beta, [&](float* dx, float* dg, float* db, GradMode mode) {
                       CUDARTS_DISPATCH(dev, batch_norm_bwd_train, dx, dg, db, y.grad().f32(),
                                        x.data(), gamma.defined() ? gamma.data() : nullptr,
                                        save_mean.f32(), save_invstd.f32(), s, mode);
                   });
           });
    return y;
}

}  // namespace cudarts
