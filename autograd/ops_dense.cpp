// Differentiable dense layers: linear (torch.nn.Linear layout), plain matmul and the embedding
// lookup. Weight and data gradients are separate calls so each runs only when wanted.
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/embedding.h"
#include "kernels/linear.h"

namespace cudarts {

using detail::new_output;
using detail::op_device;

Var linear(const Var& x, const Var& w, const Var& b) {
    const Device dev = op_device("linear", {&x, &w, &b});
    CUDARTS_CHECK(w.value().ndim() == 2 && x.value().ndim() >= 1 && x.size(-1) == w.size(1) &&
                      (!b.defined() || b.numel() == w.size(0)),
                  "linear: x " << x.value() << ", w " << w.value() << " (expected (out, in))"
                               << (b.defined() ? ", b " : "")
                               << (b.defined() ? shape_str(b.shape()) : ""));
    const LinearShape s{int(x.numel() / x.size(-1)), int(w.size(1)), int(w.size(0))};
    Shape shape = x.shape();
    shape.back() = s.out;
    Var y = new_output(shape, dev);
    CUDARTS_DISPATCH(dev, linear_fwd, y.data(), x.data(), w.data(),
                     b.defined() ? b.data() : nullptr, s);
    record("linear", {x, w, b}, {y}, [x, w, b, y, s, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, linear_bwd_data, x.grad_data(), y.grad().f32(), w.data(), s,
                             x.grad_write_mode());
        // dW and db in one call when they share a write mode, else one call each.
        const bool gw = w.needs_grad(), gb = b.needs_grad();
        if (!gw && !gb) return;
        float* dw = gw ? w.grad_data() : nullptr;
        float* db = gb ? b.grad_data() : nullptr;
        const GradMode mw = gw ? w.grad_write_mode() : GradMode::kOverwrite;
        const GradMode mb = gb ? b.grad_write_mode() : mw;
        if (!gw || !gb || mw == mb) {
            CUDARTS_DISPATCH(dev, linear_bwd_weight, dw, db, y.grad().f32(), x.data(), s,
                             gw ? mw : mb);
        } else {
            CUDARTS_DISPATCH(dev, linear_bwd_weight, dw, nullptr, y.grad().f32(), x.data(), s, mw);
            CUDARTS_DISPATCH(dev, linear_bwd_weight, nullptr, db, y.grad().f32(), x.data(), s, mb);
        }
    });
    return y;
}

Var matmul(const Var& a, const Var& b) {
    const Device dev = op_device("matmul", {&a, &b});
    CUDARTS_CHECK(a.value().ndim() == 2 && b.value().ndim() == 2 && a.size(1) == b.size(0),
                  "matmul: " << a.value() << " times " << b.value());
    const MatmulShape s{int(a.size(0)), int(a.size(1)), int(b.size(1))};
    Var c = new_output({s.m, s.n}, dev);
    CUDARTS_DISPATCH(dev, matmul_fwd, c.data(), a.data(), b.data(), s);
    record("matmul", {a, b}, {c}, [a, b, c, s, dev] {
        if (a.needs_grad())
            CUDARTS_DISPATCH(dev, matmul_bwd, a.grad_data(), nullptr, c.grad().f32(), a.data(),
                             b.data(), s, a.grad_write_mode(), GradMode::kOverwrite);
        if (b.needs_grad())
            CUDARTS_DISPATCH(dev, matmul_bwd, nullptr, b.grad_data(), c.grad().f32(), a.data(),
                             b.data(), s, GradMode::kOverwrite, b.grad_write_mode());
    });
    return c;
}

Var embedding(const Tensor& ids, const Var& table) {
    const Device dev = table.device();
    CUDARTS_CHECK(
        ids.dtype() == DType::kI32 && ids.device() == dev && table.value().ndim() == 2,
        "embedding: ids " << ids << " (int32 on " << dev << ") into table " << table.value());
    const int vocab = int(table.size(0)), dim = int(table.size(1));
    Shape shape = ids.shape();
    shape.push_back(dim);
    Var y = new_output(shape, dev);
    CUDARTS_DISPATCH(dev, embedding_fwd, y.data(), ids.i32(), table.data(), ids.numel(), vocab,
                     dim);
    record("embedding", {table}, {y}, [ids, table, y, vocab, dim, dev] {
        if (table.needs_grad())
            CUDARTS_DISPATCH(dev, embedding_bwd, table.grad_data(), y.grad().f32(), ids.i32(),
                             ids.numel(), vocab, dim, table.grad_write_mode());
    });
    return y;
}

}  // namespace cudarts
