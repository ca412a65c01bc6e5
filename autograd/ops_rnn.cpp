// The recurrent cell's fused highway update (kernels/rnn_cell.h) as differentiable ops.
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/rnn_cell.h"

namespace cudarts {

using detail::new_output;
using detail::op_device;

namespace {

// Checks ch (rows, 2n) against s (rows, n); returns n.
int64_t state_width(const Var& ch, const Var& s, const char* op) {
    CUDARTS_CHECK(s.value().ndim() == 2 && ch.value().ndim() == 2 && ch.size(0) == s.size(0) &&
                      ch.size(1) == 2 * s.size(1) && s.size(1) >= 1,
                  op << ": gates " << ch.value() << " do not fit the state " << s.value()
                     << " (expected (rows, 2n) and (rows, n))");
    return s.size(1);
}

// The gradients the running backward wants, each with its write mode (asked once per write).
HighwayGrads wanted(const Var& ch, const Var& s) {
    HighwayGrads g;
    if (ch.needs_grad()) g.dch = ch.grad_data(), g.ch_mode = ch.grad_write_mode();
    if (s.needs_grad()) g.ds = s.grad_data(), g.s_mode = s.grad_write_mode();
    return g;
}

}  // namespace

Var rnn_highway(const Var& ch, const Var& s, RnnAct act) {
    const Device dev = op_device("rnn_highway", {&ch, &s});
    const int64_t n = state_width(ch, s, "rnn_highway"), rows = s.size(0);
    Var out = new_output(s.shape(), dev);
    CUDARTS_DISPATCH(dev, highway_fwd, out.data(), ch.data(), s.data(), rows, n, act);
    record("rnn_highway", {ch, s}, {out}, [ch, s, out, dev, rows, n, act] {
        const HighwayGrads g = wanted(ch, s);
        if (g.dch || g.ds)
            CUDARTS_DISPATCH(dev, highway_bwd, g, out.grad().f32(), ch.data(), s.data(), rows, n,
                             act);
    });
    return out;
}

Var rnn_highway_mix(const Var& ch, const Var& s, const Var& alpha) {
    const Device dev = op_device("rnn_highway_mix", {&ch, &s, &alpha});
    const int64_t n = state_width(ch, s, "rnn_highway_mix"), rows = s.size(0);
    CUDARTS_CHECK(alpha.numel() == kRnnEdgeLogits,
                  "rnn_highway_mix: alpha " << alpha.value() << ", expected " << kRnnEdgeLogits
                                            << " logits (none, tanh, relu, sigmoid, identity)");
    Var out = new_output(s.shape(), dev);
    CUDARTS_DISPATCH(dev, highway_mix_fwd, out.data(), ch.data(), s.data(), alpha.data(), rows, n);
    record("rnn_highway_mix", {ch, s, alpha}, {out}, [ch, s, alpha, out, dev, rows, n] {
        const HighwayGrads g = wanted(ch, s);
        float* dalpha = alpha.needs_grad() ? alpha.grad_data() : nullptr;
        const GradMode alpha_mode = dalpha ? alpha.grad_write_mode() : GradMode::kOverwrite;
        if (g.dch || g.ds || dalpha)
            CUDARTS_DISPATCH(dev, highway_mix_bwd, g, dalpha, alpha_mode, out.grad().f32(),
                             ch.data(), s.data(), alpha.data(), rows, n);
    });
    return out;
}

}  // namespace cudarts
