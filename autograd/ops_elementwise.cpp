// Differentiable elementwise ops, reductions and the dropout family. Activations keep their
// output (their derivative is a function of y), products keep both factors.
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace cudarts {

using detail::new_output;
using detail::op_device;

namespace {

// The device of a binary elementwise op, after checking that a and b share it and their shape.
Device binary_device(const char* op, const Var& a, const Var& b) {
    const Device dev = op_device(op, {&a, &b});
    CUDARTS_CHECK(a.shape() == b.shape(), op << ": shapes differ (" << shape_str(a.shape())
                                             << " and " << shape_str(b.shape()) << ")");
    return dev;
}

}  // namespace

// y = f(x) with dx = f'(y) dy: the activations keep only their output.
#define CUDARTS_ACTIVATION(name)                                                           \
    Var name(const Var& x) {                                                               \
        const Device dev = x.device();                                                     \
        Var y = new_output(x.shape(), dev);                                                \
        CUDARTS_DISPATCH(dev, name##_fwd, y.data(), x.data(), x.numel());                  \
        record(#name, {x}, {y}, [x, y, dev] {                                              \
            if (x.needs_grad())                                                            \
                CUDARTS_DISPATCH(dev, name##_bwd, x.grad_data(), y.grad().f32(), y.data(), \
                                 x.numel(), x.grad_write_mode());                          \
        });                                                                                \
        return y;                                                                          \
    }
CUDARTS_ACTIVATION(relu)
CUDARTS_ACTIVATION(tanh)
CUDARTS_ACTIVATION(sigmoid)
#undef CUDARTS_ACTIVATION

Var add(const Var& a, const Var& b) {
    const Device dev = binary_device("add", a, b);
    Var y = new_output(a.shape(), dev);
    CUDARTS_DISPATCH(dev, add_fwd, y.data(), a.data(), b.data(), a.numel());
    record("add", {a, b}, {y}, [a, b, y, dev] {
        for (const Var* v : {&a, &b})
            if (v->needs_grad())
                CUDARTS_DISPATCH(dev, copy, v->grad_data(), y.grad().f32(), v->numel(),
                                 v->grad_write_mode());
    });
    return y;
}

Var mul(const Var& a, const Var& b) {
    const Device dev = binary_device("mul", a, b);
    Var y = new_output(a.shape(), dev);
    CUDARTS_DISPATCH(dev, mul_fwd, y.data(), a.data(), b.data(), a.numel());
    record("mul", {a, b}, {y}, [a, b, y, dev] {
        // Separate calls, so that mul(x, x) gets its two contributions in order.
        if (a.needs_grad())
            CUDARTS_DISPATCH(dev, mul_bwd, a.grad_data(), nullptr, y.grad().f32(), a.data(),
                             b.data(), a.numel(), a.grad_write_mode(), GradMode::kOverwrite);
        if (b.needs_grad())
            CUDARTS_DISPATCH(dev, mul_bwd, nullptr, b.grad_data(), y.grad().f32(), a.data(),
                             b.data(), a.numel(), GradMode::kOverwrite, b.grad_write_mode());
    });
    return y;
}

Var scale(const Var& x, float alpha) {
    const Device dev = x.device();
    Var y = new_output(x.shape(), dev);
    CUDARTS_DISPATCH(dev, scale_fwd, y.data(), x.data(), alpha, x.numel());
    record("scale", {x}, {y}, [x, y, alpha, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, scale_bwd, x.grad_data(), y.grad().f32(), alpha, x.numel(),
                             x.grad_write_mode());
    });
    return y;
}

static Var scaled_sum(const char* op, const Var& x, float scale_by) {
    const Device dev = x.device();
    Var y = new_output({1}, dev);
    CUDARTS_DISPATCH(dev, sum_fwd, y.data(), x.data(), x.numel(), scale_by);
    record(op, {x}, {y}, [x, y, scale_by, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, sum_bwd, x.grad_data(), y.grad().f32(), x.numel(), scale_by,
                             x.grad_write_mode());
    });
    return y;
}

Var sum(const Var& x) { return scaled_sum("sum", x, 1.0f); }
Var mean(const Var& x) {
    CUDARTS_CHECK(x.numel() > 0, "mean: empty tensor");
    return scaled_sum("mean", x, 1.0f / float(x.numel()));
}

Var mask_mul(const Var& x, const Tensor& mask, const BroadcastShape& s) {
    const Device dev = x.device();
    CUDARTS_CHECK(s.elems() == x.numel() && mask.numel() == s.mid && mask.device() == dev,
                  "mask_mul: mask " << mask << " and layout (" << s.outer << ", " << s.mid << ", "
                                    << s.inner << ") do not fit " << x.value());
    Var y = new_output(x.shape(), dev);
    CUDARTS_DISPATCH(dev, broadcast_mul_fwd, y.data(), x.data(), mask.f32(), s);
    record("mask_mul", {x}, {y}, [x, y, mask, s, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, broadcast_mul_bwd, x.grad_data(), y.grad().f32(), mask.f32(), s,
                             x.grad_write_mode());
    });
    return y;
}

Var dropout(const Var& x, float p, Generator& gen, bool training) {
    if (!training || p == 0.f) return x;
    Tensor mask = Tensor::empty({x.numel()}, x.device());
    gen.dropout_mask_(mask, p);
    return mask_mul(x, mask, {1, x.numel(), 1});
}

Var drop_path(const Var& x, float p, Generator& gen, bool training) {
    if (!training || p == 0.f) return x;
    const int64_t n = x.size(0);
    Tensor mask = Tensor::empty({n}, x.device());
    gen.dropout_mask_(mask, p);
    return mask_mul(x, mask, {1, n, x.numel() / n});
}

}  // namespace cudarts
