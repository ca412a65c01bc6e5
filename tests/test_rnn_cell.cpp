// The recurrent cell's fused highway update (kernels/rnn_cell.h) on the CPU: the forward equals the
// update composed from the elementwise ops (and, for a search edge, the mixed sum of the four
// updates); every gradient (gates, state, the edge's 5 logits) matches central differences in both
// write modes, for each activation; `none` gets the gradient the softmax Jacobian gives it; and the
// ops behind them refuse shapes that do not fit.
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "kernels/check.h"
#include "kernels/rnn_cell.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

constexpr int64_t kRows = 3, kN = 5;
constexpr std::array<RnnAct, 4> kActs = {RnnAct::kTanh, RnnAct::kRelu, RnnAct::kSigmoid,
                                         RnnAct::kIdentity};
const char* name_of(RnnAct a) {
    constexpr std::array<const char*, 4> names = {"tanh", "relu", "sigmoid", "identity"};
    return names[size_t(a)];
}

// Gates with h kept away from ReLU's kink, states and logits.
struct Inputs {
    std::vector<float> ch = away_from_zero(kRows * 2 * kN, 11, 0.1f);
    std::vector<float> s = uniform(kRows * kN, 12);
    std::vector<float> alpha = uniform(kRnnEdgeLogits, 13, -1.5f, 1.5f);
    std::vector<float> r = uniform(kRows * kN, 14);  // loss = <r, out>
};

Var leaf(const std::vector<float>& v, const Shape& shape) {
    return Var(Tensor::from_vector(v, shape), /*requires_grad=*/true);
}

Var composed_highway(const Var& ch, const Var& s, RnnAct act) {
    const Var c = sigmoid(slice_channels(ch, 0, int(kN)));
    const Var h = slice_channels(ch, int(kN), int(kN));
    const Var f = act == RnnAct::kTanh      ? tanh(h)
                  : act == RnnAct::kRelu    ? relu(h)
                  : act == RnnAct::kSigmoid ? sigmoid(h)
                                            : h;
    return add(s, mul(c, add(f, scale(s, -1.f))));
}

double loss_of(const std::vector<float>& out, const std::vector<float>& r) { return dot(r, out); }

}  // namespace

TEST_SUITE("rnn_cell") {
    TEST_CASE("rnn_cell: the fused highway equals the composed ops, for every activation") {
        const Inputs in;
        const Var ch = leaf(in.ch, {kRows, 2 * kN}), s = leaf(in.s, {kRows, kN});
        for (RnnAct act : kActs) {
            CAPTURE(name_of(act));
            const std::vector<float> fused = rnn_highway(ch, s, act).value().to_vector();
            const std::vector<float> composed = composed_highway(ch, s, act).value().to_vector();
            check_close(fused, composed, 1e-6, 1e-7, name_of(act));
        }
        // The search edge: softmax(alpha)-weighted updates, `none` (column 0) adding nothing.
        const Var alpha = leaf(in.alpha, {kRnnEdgeLogits});
        std::vector<Var> ys{Var()};
        for (RnnAct act : kActs) ys.push_back(composed_highway(ch, s, act));
        check_close(rnn_highway_mix(ch, s, alpha).value().to_vector(),
                    mixed_softmax_sum(ys, alpha).value().to_vector(), 1e-6, 1e-7, "mix");
    }

    TEST_CASE("rnn_cell: highway gradients match central differences in both write modes") {
        const Inputs in;
        std::vector<float> out(size_t(kRows * kN));
        for (RnnAct act : kActs) {
            CAPTURE(name_of(act));
            const auto loss_ch = [&](const std::vector<float>& ch) {
                cpu::highway_fwd(out.data(), ch.data(), in.s.data(), kRows, kN, act);
                return loss_of(out, in.r);
            };
            const auto loss_s = [&](const std::vector<float>& s) {
                cpu::highway_fwd(out.data(), in.ch.data(), s.data(), kRows, kN, act);
                return loss_of(out, in.r);
            };
            check_grad_modes(
                [&](float* d, GradMode m) {
                    cpu::highway_bwd({.dch = d, .ds = nullptr, .ch_mode = m}, in.r.data(),
                                     in.ch.data(), in.s.data(), kRows, kN, act);
                },
                numeric_grad(loss_ch, in.ch), std::string("dch ") + name_of(act));
            check_grad_modes(
                [&](float* d, GradMode m) {
                    cpu::highway_bwd({.dch = nullptr, .ds = d, .s_mode = m}, in.r.data(),
                                     in.ch.data(), in.s.data(), kRows, kN, act);
                },
                numeric_grad(loss_s, in.s), std::string("ds ") + name_of(act));
        }
    }

    TEST_CASE("rnn_cell: a search edge's gradients reach the gates, the state and all 5 logits") {
        const Inputs in;
        std::vector<float> out(size_t(kRows * kN));
        const auto run = [&](const std::vector<float>& ch, const std::vector<float>& s,
                             const std::vector<float>& alpha) {
            cpu::highway_mix_fwd(out.data(), ch.data(), s.data(), alpha.data(), kRows, kN);
            return loss_of(out, in.r);
        };
        const auto bwd = [&](float* dch, float* ds, float* dalpha, GradMode m) {
            cpu::highway_mix_bwd({.dch = dch, .ds = ds, .ch_mode = m, .s_mode = m}, dalpha, m,
                                 in.r.data(), in.ch.data(), in.s.data(), in.alpha.data(), kRows,
                                 kN);
        };
        check_grad_modes(
            [&](float* d, GradMode m) { bwd(d, nullptr, nullptr, m); },
            numeric_grad([&](const auto& ch) { return run(ch, in.s, in.alpha); }, in.ch),
            "mix dch");
        check_grad_modes([&](float* d, GradMode m) { bwd(nullptr, d, nullptr, m); },
                         numeric_grad([&](const auto& s) { return run(in.ch, s, in.alpha); }, in.s),
                         "mix ds");
        const std::vector<double> numeric =
            numeric_grad([&](const auto& a) { return run(in.ch, in.s, a); }, in.alpha, 1e-3);
        check_grad_modes([&](float* d, GradMode m) { bwd(nullptr, nullptr, d, m); }, numeric,
                         "mix dalpha");
        // The logits' gradients sum to zero (softmax), `none`'s included and not zero.
        std::vector<float> dalpha(kRnnEdgeLogits);
        bwd(nullptr, nullptr, dalpha.data(), GradMode::kOverwrite);
        double total = 0;
        for (float v : dalpha) total += v;
        CHECK(std::abs(total) < 1e-6);
        CHECK(dalpha[0] != 0.f);
    }

    TEST_CASE("rnn_cell: the ops' gradients through the tape match the kernels' check") {
        const Inputs in;
        const Var ch = leaf(in.ch, {kRows, 2 * kN}), s = leaf(in.s, {kRows, kN});
        const Var alpha = leaf(in.alpha, {kRnnEdgeLogits});
        const Tensor r = Tensor::from_vector(in.r, {kRows, kN});
        const Var weights(r);
        // Both ops in one graph, s used by both (its gradient accumulates).
        const auto loss = [&] {
            return sum(mul(add(rnn_highway(ch, s, RnnAct::kSigmoid), rnn_highway_mix(ch, s, alpha)),
                           weights));
        };
        const GradCheckResult res = grad_check(loss, {ch, s, alpha});
        CAPTURE(res.report);
        CHECK(res.ok);
        CHECK(res.checked == ch.numel() + s.numel() + alpha.numel());
    }

    TEST_CASE("rnn_cell: gates that do not fit the state are refused, naming both shapes") {
        const Var ch = leaf(uniform(12, 1), {2, 6}), s = leaf(uniform(8, 2), {2, 4});
        const std::string e = [&] {
            try {
                rnn_highway(ch, s, RnnAct::kTanh);
            } catch (const Error& err) {
                return std::string(err.what());
            }
            return std::string();
        }();
        CHECK(e.find("[2, 6]") != std::string::npos);
        CHECK(e.find("[2, 4]") != std::string::npos);
        const Var four = leaf(uniform(4, 3), {4});
        CHECK_THROWS_AS(rnn_highway_mix(leaf(uniform(16, 4), {2, 8}), s, four), Error);
    }
}  // TEST_SUITE
