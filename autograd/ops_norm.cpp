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

std::vector<Var> batch_norm_group(const std::vector<Var>& xs,
                                  const std::vector<Tensor>& running_means,
                                  const std::vector<Tensor>& running_vars,
                                  const std::vector<bool>& relu, float momentum, float eps) {
    CUDARTS_CHECK(!xs.empty() && xs[0].defined(), "batch_norm_group: no input");
    CUDARTS_CHECK(running_means.size() == xs.size() && running_vars.size() == xs.size(),
                  "batch_norm_group: " << xs.size() << " inputs but " << running_means.size()
                                       << " running means and " << running_vars.size()
                                       << " running variances");
    CUDARTS_CHECK(
        relu.empty() || relu.size() == xs.size(),
        "batch_norm_group: " << xs.size() << " inputs but " << relu.size() << " ReLU flags");
    const Var& first = xs[0];
    const Device dev = first.device();
    CUDARTS_CHECK(first.value().ndim() >= 2,
                  "batch_norm_group: expected (n, c, ...), got " << first.value());
    const int n = int(first.size(0)), c = int(first.size(1));
    const BatchNormShape s{n, c, int(first.numel() / (int64_t(n) * c))};
    s.validate();
    const int64_t count = int64_t(xs.size());
    // Every item's saved mean and 1/std, side by side: item i at 2 i c (mean) and (2 i + 1) c.
    Tensor saved = Tensor::empty({count, 2, c}, dev);
    std::vector<Var> ys;
    std::vector<BatchNormTrainItem> items;
    for (size_t i = 0; i < xs.size(); ++i) {
        const Var& x = xs[i];
        CUDARTS_CHECK(x.defined() && x.shape() == first.shape() && x.device() == dev,
                      "batch_norm_group: input " << i << " is not like input 0 " << first.value());
        const Tensor& rm = running_means[i];
        const Tensor& rv = running_vars[i];
        CUDARTS_CHECK(rm.defined() == rv.defined(),
                      "batch_norm_group: input " << i << " has only one running statistic");
        if (rm.defined())
            CUDARTS_CHECK(
                rm.numel() == c && rv.numel() == c && rm.device() == dev && rv.device() == dev,
                "batch_norm_group: running statistics of input " << i << " do not match " << c
                                                                 << " channels on " << dev);
        ys.push_back(new_output(x.shape(), dev));
        float* mean = saved.f32() + 2 * int64_t(i) * c;
        items.push_back({ys.back().data(), mean, mean + c, rm.defined() ? rm.f32() : nullptr,
                         rv.defined() ? rv.f32() : nullptr, x.data(), nullptr, nullptr,
                         !relu.empty() && relu[i]});
    }
    const std::span<const BatchNormTrainItem> train(items);
    CUDARTS_DISPATCH(dev, batch_norm_group_fwd_train, train, s, momentum, eps);
    std::vector<bool> fused = relu;
    fused.resize(xs.size(), false);
    record_paired("batch_norm_group", xs, ys, [xs, ys, saved, s, dev, fused] {
        std::vector<BatchNormGradItem> grads;
        for (size_t i = 0; i < xs.size(); ++i) {
            if (!ys[i].has_grad() || !xs[i].needs_grad()) continue;
            float* dx = xs[i].grad_data();
            const GradMode mode = xs[i].grad_write_mode();
            const float* mean = saved.f32() + 2 * int64_t(i) * s.c;
            grads.push_back({dx, nullptr, nullptr, ys[i].grad().f32(), xs[i].data(), nullptr, mean,
                             mean + s.c, mode, fused[i] ? ys[i].data() : nullptr});
        }
        // An input given twice gets both gradients, in two launches (detail::distinct_rounds).
        const auto rounds =
            detail::distinct_rounds(grads, [](const BatchNormGradItem& g) { return g.dx; });
        for (const auto& round : rounds) {
            const std::span<const BatchNormGradItem> wanted(round);
            CUDARTS_DISPATCH(dev, batch_norm_group_bwd_train, wanted, s);
        }
    });
    return ys;
}

}  // namespace cudarts
