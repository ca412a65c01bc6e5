// Differentiable softmax family, classification losses and the DARTS mixed sum. Losses return a
// one-element Var. On the CPU the kernels return the loss and take the incoming gradient as a
// float; the CUDA kernels write the loss to, and read the gradient from, device memory, so no
// step synchronises with the host.
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/mixed_op.h"
#include "kernels/softmax.h"

namespace cudarts {

using detail::new_output;
using detail::op_device;

static void rows_cols(const Var& x, const char* op, int& rows, int& cols) {
    CUDARTS_CHECK(x.value().ndim() >= 1 && x.numel() > 0, op << ": empty input " << x.value());
    cols = int(x.size(-1));
    rows = int(x.numel() / cols);
}

// A loss's input x seen as rows (every dimension but the last) of cols classes, on dev.
struct LabelledRows {
    int rows, cols;
    Device dev;
};

// The rows of x, after checking that labels hold one int32 class per row on x's device; shared by
// nll_loss, cross_entropy and count_correct.
static LabelledRows labelled_rows(const Var& x, const Tensor& labels, const char* op) {
    int rows, cols;
    rows_cols(x, op, rows, cols);
    const Device dev = x.device();
    CUDARTS_CHECK(labels.dtype() == DType::kI32 && labels.numel() == rows && labels.device() == dev,
                  op << ": labels " << labels << " must be " << rows << " int32 on " << dev);
    return {rows, cols, dev};
}

// softmax and log_softmax along the last dimension, the same op but for their kernels; the
// backward needs only the saved output y.
#define CUDARTS_SOFTMAX_OP(name)                                                                 \
    Var name(const Var& x) {                                                                     \
        int rows, cols;                                                                          \
        rows_cols(x, #name, rows, cols);                                                         \
        const Device dev = x.device();                                                           \
        Var y = new_output(x.shape(), dev);                                                      \
        CUDARTS_DISPATCH(dev, name##_fwd, y.data(), x.data(), rows, cols);                       \
        record(#name, {x}, {y}, [x, y, rows, cols, dev] {                                        \
            if (x.needs_grad())                                                                  \
                CUDARTS_DISPATCH(dev, name##_bwd, x.grad_data(), y.grad().f32(), y.data(), rows, \
                                 cols, x.grad_write_mode());                                     \
        });                                                                                      \
        return y;                                                                                \
    }
CUDARTS_SOFTMAX_OP(softmax)
CUDARTS_SOFTMAX_OP(log_softmax)
#undef CUDARTS_SOFTMAX_OP

Var nll_loss(const Var& logp, const Tensor& labels) {
    const LabelledRows r = labelled_rows(logp, labels, "nll_loss");
    Var y = new_output({1}, r.dev);
    if (r.dev.is_cpu())
        y.value().fill_(cpu::nll_loss_fwd(logp.data(), labels.i32(), r.rows, r.cols));
    else
        CUDARTS_CUDA_CALL(r.dev, nll_loss_fwd, y.data(), logp.data(), labels.i32(), r.rows, r.cols);
    record("nll_loss", {logp}, {y}, [logp, labels, y, r] {
        if (!logp.needs_grad()) return;
        if (r.dev.is_cpu())
            cpu::nll_loss_bwd(logp.grad_data(), y.grad().item(), labels.i32(), r.rows, r.cols,
                              logp.grad_write_mode());
        else
            CUDARTS_CUDA_CALL(r.dev, nll_loss_bwd, logp.grad_data(), y.grad().f32(), labels.i32(),
                              r.rows, r.cols, logp.grad_write_mode());
    });
    return y;
}

Var cross_entropy(const Var& logits, const Tensor& labels, float smoothing) {
    const LabelledRows r = labelled_rows(logits, labels, "cross_entropy");
    Tensor logp = Tensor::empty(logits.shape(), r.dev);
    Var y = new_output({1}, r.dev);
    if (r.dev.is_cpu())
        y.value().fill_(cpu::cross_entropy_fwd(logp.f32(), logits.data(), labels.i32(), r.rows,
                                               r.cols, smoothing));
    else
        CUDARTS_CUDA_CALL(r.dev, cross_entropy_fwd, y.data(), logp.f32(), logits.data(),
                          labels.i32(), r.rows, r.cols, smoothing);
    record("cross_entropy", {logits}, {y}, [logits, labels, logp, y, r, smoothing] {
        if (!logits.needs_grad()) return;
        if (r.dev.is_cpu())
            cpu::cross_entropy_bwd(logits.grad_data(), y.grad().item(), logp.f32(), labels.i32(),
                                   r.rows, r.cols, smoothing, logits.grad_write_mode());
        else
            CUDARTS_CUDA_CALL(r.dev, cross_entropy_bwd, logits.grad_data(), y.grad().f32(),
                              logp.f32(), labels.i32(), r.rows, r.cols, smoothing,
                              logits.grad_write_mode());
    });
    return y;
}

int64_t count_correct(const Var& logits, const Tensor& labels, int topk) {
    const LabelledRows r = labelled_rows(logits, labels, "count_correct");
    if (r.dev.is_cpu())
        return cpu::count_correct(logits.data(), labels.i32(), r.rows, r.cols, topk);
    Tensor out = Tensor::empty({1}, r.dev, DType::kI32);
    CUDARTS_CUDA_CALL(r.dev, count_correct, out.i32(), logits.data(), labels.i32(), r.rows, r.cols,
                      topk);
    return out.to_vector_i32()[0];
}

namespace {

// Shared by mixed_sum and mixed_softmax_sum: checks the candidates, collects their pointers.
struct Mixed {
    Shape shape;
    int64_t n = 0;
    Device dev;
    std::vector<const float*> ys;
};

// The weights are w.flat[offset, offset + K): all of w (windowed false, offset 0), or a window.
Mixed gather(const std::vector<Var>& ys, const Var& w, int64_t offset, bool windowed,
             const char* op) {
    Mixed m;
    m.dev = w.device();
    if (!windowed)
        CUDARTS_CHECK(int64_t(ys.size()) == w.numel(),
                      op << ": " << ys.size() << " candidates but " << w.numel() << " weights");
    else
        CUDARTS_CHECK(offset >= 0 && offset + int64_t(ys.size()) <= w.numel(),
                      op << ": " << ys.size() << " candidates from weight " << offset << " outside "
                         << w.value());
    for (const Var& y : ys) {
        if (y.defined() && m.shape.empty()) m.shape = y.shape();
        m.ys.push_back(y.defined() ? y.data() : nullptr);
    }
    CUDARTS_CHECK(!m.shape.empty(), op << ": every candidate is `none`; the shape is unknown");
    for (const Var& y : ys)
        if (y.defined())
            CUDARTS_CHECK(y.shape() == m.shape && y.device() == m.dev,
                          op << ": candidate " << y.value() << " differs from "
                             << shape_str(m.shape) << " on " << m.dev);
    m.n = shape_numel(m.shape);
    return m;
}

// The forward and backward kernels of both mixed forms, on the device's backend; the weights-given
// form sums runs of `run` candidates apart (the edges of a node; run = K for one edge).
void mixed_fwd(bool from_logits, Device dev, float* out, const float* const* ys, const float* w,
               int K, int run, int64_t n) {
    if (from_logits)
        CUDARTS_DISPATCH(dev, mixed_softmax_sum_fwd, out, ys, w, K, n);
    else if (run == K)
        CUDARTS_DISPATCH(dev, mixed_sum_fwd, out, ys, w, K, n);
    else
        CUDARTS_DISPATCH(dev, mixed_node_fwd, out, ys, w, K, run, n);
}

void mixed_bwd(bool from_logits, Device dev, float* const* dys, float* dw, const float* dout,
               const float* const* ys, const float* w, int K, int64_t n, GradMode mode) {
    if (from_logits)
        CUDARTS_DISPATCH(dev, mixed_softmax_sum_bwd, dys, dw, dout, ys, w, K, n, mode);
    else
        CUDARTS_DISPATCH(dev, mixed_sum_bwd, dys, dw, dout, ys, w, K, n, mode);
}

// windowed (weights w.flat[offset, offset + K) of a larger w) only for the weights-given form.
Var mixed_impl(const char* op, const std::vector<Var>& ys, const Var& w, int64_t offset,
               bool windowed, bool from_logits, int run = 0) {
    const Mixed m = gather(ys, w, offset, windowed, op);
    const int K = int(ys.size());
    Var out = new_output(m.shape, m.dev);
    mixed_fwd(from_logits, m.dev, out.data(), m.ys.data(), w.data() + offset, K, run > 0 ? run : K,
              m.n);
    std::vector<Var> inputs = ys;
    inputs.push_back(w);
    record(op, inputs, {out}, [ys, w, offset, out, m, K, from_logits] {
        // Each candidate's gradient has its own write mode, so the kernel runs once for the
        // weights and once per write mode that occurs among the wanted candidates.
        std::vector<float*> none(size_t(K), nullptr);
        std::vector<float*> by_mode[2] = {none, none};
        for (int k = 0; k < K; ++k)
            if (ys[size_t(k)].needs_grad()) {
                float* g = ys[size_t(k)].grad_data();
                by_mode[int(ys[size_t(k)].grad_write_mode())][size_t(k)] = g;
            }
        const float* dout = out.grad().f32();
        if (w.needs_grad()) {
            float* dw = w.grad_data();
            GradMode mode = w.grad_write_mode();
            if (K < w.numel() && mode == GradMode::kOverwrite) {
                w.grad().zero_();  // the rows of other calls accumulate onto zeros
                mode = GradMode::kAccumulate;
            }
            mixed_bwd(from_logits, m.dev, none.data(), dw + offset, dout, m.ys.data(),
                      w.data() + offset, K, m.n, mode);
        }
        for (int mode = 0; mode < 2; ++mode) {
            bool any = false;
            for (float* p : by_mode[mode]) any = any || p;
            if (any)
                mixed_bwd(from_logits, m.dev, by_mode[mode].data(), nullptr, dout, m.ys.data(),
                          w.data() + offset, K, m.n, GradMode(mode));
        }
    });
    return out;
}

}  // namespace

Var mixed_sum(const std::vector<Var>& ys, const Var& w) {
    return mixed_impl("mixed_sum", ys, w, 0, /*windowed=*/false, /*from_logits=*/false);
}

Var mixed_softmax_sum(const std::vector<Var>& ys, const Var& alpha) {
    return mixed_impl("mixed_softmax_sum", ys, alpha, 0, /*windowed=*/false, /*from_logits=*/true);
}

Var mixed_sum(const std::vector<Var>& ys, const Var& w, int64_t offset) {
    return mixed_impl("mixed_sum", ys, w, offset, /*windowed=*/true, /*from_logits=*/false);
}

Var mixed_node(const std::vector<Var>& ys, const Var& w, int64_t offset, int per_edge) {
    const int64_t total = int64_t(ys.size());
    CUDARTS_CHECK(per_edge >= 1 && total > 0 && total % per_edge == 0,
                  "mixed_node: " << total << " candidates are not edges of " << per_edge);
    if (total <= cuda::kMaxCandidates)
        return mixed_impl("mixed_node", ys, w, offset, /*windowed=*/true, /*from_logits=*/false,
                          per_edge);
    // More than one launch's table holds: the edges one by one, then their adds (the same bits).
    Var node;
    for (int64_t e = 0; e < total / per_edge; ++e) {
        const std::vector<Var> edge(ys.begin() + e * per_edge, ys.begin() + (e + 1) * per_edge);
        const Var mixed = mixed_sum(edge, w, offset + e * per_edge);
        node = node.defined() ? add(node, mixed) : mixed;
    }
    return node;
}

}  // namespace cudarts
