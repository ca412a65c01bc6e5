// Test pieces shared by the ENAS suites (test_enas_controller.cpp, test_enas_micro.cpp,
// test_enas_child.cpp, test_enas_search.cpp, test_enas_cuda.cpp): a small search space, Katib's
// example architecture, small settings, the controllers' LSTM and logit transform written out in
// double for the reference walks, the central-difference check of a controller's gradients and the
// bandit loop both controllers must learn.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "autograd/grad_check.h"
#include "models/enas/controller.h"
#include "models/enas/space.h"
#include "tests/util.h"

namespace cudarts::test {

// The example architecture of Katib's documentation (reference/katib.md 2.3).
inline const enas::Architecture kKatibExample = {{27},
                                                 {29, 0},
                                                 {22, 1, 0},
                                                 {13, 0, 0, 0},
                                                 {26, 1, 1, 0, 0},
                                                 {30, 1, 0, 1, 0, 0},
                                                 {11, 0, 1, 1, 0, 1, 1},
                                                 {9, 1, 0, 0, 1, 0, 0, 0}};

// A convolution op of the search space.
inline enas::OpSpec conv_op(int k, int filters, int stride = 1) {
    return {.type = enas::OpType::convolution,
            .filter_size = k,
            .num_filter = filters,
            .stride = stride};
}

// A small space over every op type on 8x8x2 images, 3 classes: 0 conv 3x3 x4, 1 conv 3x3 x5 /2
// (Keras pads it asymmetrically), 2 sep 3x3 x3 m2, 3 dw 3x3 m2, 4 avg 2x2.
inline enas::SearchSpace small_space(int layers) {
    enas::SearchSpace s{
        .num_layers = layers, .height = 8, .width = 8, .channels = 2, .classes = 3, .ops = {}};
    s.ops = {conv_op(3, 4),
             conv_op(3, 5, 2),
             {.type = enas::OpType::separable_convolution,
              .filter_size = 3,
              .num_filter = 3,
              .depth_multiplier = 2},
             {.type = enas::OpType::depthwise_convolution, .filter_size = 3, .depth_multiplier = 2},
             {.type = enas::OpType::reduction, .max_pool = false, .pool_size = 2}};
    return s;
}

// Katib's defaults with a small hidden size and the given logit transform.
inline enas::ControllerSettings small_settings(int hidden, std::optional<double> temperature = 5.0,
                                               std::optional<double> tanh_const = 2.25) {
    enas::ControllerSettings s;
    s.hidden_size = hidden;
    s.temperature = temperature;
    s.tanh_const = tanh_const;
    return s;
}

// Replaces a controller's U(-0.01, 0.01) init with U(-bound, bound), so the choices are far from
// uniform.
template <class Controller>
void randomize(Controller& c, float bound, uint64_t seed) {
    const Tensor& flat = c.weights().flat_values();
    flat.copy_(Tensor::from_vector(uniform(flat.numel(), seed, -bound, bound), flat.shape()));
}

// The one element of v as a double.
inline double value(const Var& v) { return v.value().item(); }

// The architecture type a controller samples (enas::Architecture or enas::MicroArch).
template <class Controller>
using ArchOf = decltype(std::declval<const Controller&>().sample(std::declval<Generator&>()));

// The probability a controller's score assigns to arch (no tape).
template <class Controller>
double prob(const Controller& c, const ArchOf<Controller>& arch) {
    NoGradGuard no_grad;
    return std::exp(value(c.score(arch).log_prob));
}

// ----- the controllers' pieces in double -----

using Vec = std::vector<double>;

// x (len rows) times w (rows x cols, row-major).
inline Vec vecmat(const Vec& x, const std::vector<float>& w, size_t cols) {
    Vec y(cols, 0.0);
    for (size_t r = 0; r < x.size(); ++r)
        for (size_t c = 0; c < cols; ++c) y[c] += x[r] * double(w[r * cols + c]);
    return y;
}
inline double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline Vec log_softmax_d(const Vec& x) {
    double mx = x[0];
    for (double v : x) mx = std::max(mx, v);
    double s = 0;
    for (double v : x) s += std::exp(v - mx);
    Vec y;
    for (double v : x) y.push_back(v - mx - std::log(s));
    return y;
}

// A controller's variables copied out as floats, its logit transform T and its LSTM cell with
// the state c = h = 0 at the start, all in double: what both reference walks are built of.
struct RefPolicy {
    RefPolicy(const enas::ControllerSettings& settings, const ParamStore& weights)
        : s(settings), H(size_t(settings.hidden_size)), c(H, 0.0), h(H, 0.0) {
        auto w = [&](const char* name) { return weights.get(name).value().to_vector(); };
        lstm = w("lstm.w"), g_emb = w("g_emb"), w_emb = w("w_emb"), w_soft = w("w_soft");
        w1 = w("attn.w1"), w2 = w("attn.w2"), v = w("attn.v");
    }
    // T(x) = tanh_const * tanh(x / temperature), either part skipped when None.
    double T(double x) const {
        if (s.temperature) x /= *s.temperature;
        if (s.tanh_const) x = *s.tanh_const * std::tanh(x);
        return x;
    }
    // One LSTM step on input x (H values), c and h updated.
    void step(const Vec& x) {
        Vec xh = x;
        xh.insert(xh.end(), h.begin(), h.end());
        const Vec z = vecmat(xh, lstm, 4 * H);
        for (size_t k = 0; k < H; ++k) {
            c[k] = sig(z[k]) * std::tanh(z[3 * H + k]) + sig(z[H + k]) * c[k];
            h[k] = sig(z[2 * H + k]) * std::tanh(c[k]);
        }
    }
    // The attention scores q_j = tanh(keys_j + h w2) v of the stored keys against h.
    Vec attention(const std::vector<Vec>& keys) const {
        const Vec hw2 = vecmat(h, w2, H);
        Vec q(keys.size(), 0.0);
        for (size_t j = 0; j < keys.size(); ++j)
            for (size_t k = 0; k < H; ++k) q[j] += std::tanh(keys[j][k] + hw2[k]) * double(v[k]);
        return q;
    }
    // Row op of w_emb (the input after choosing op).
    Vec embedding(int op) const {
        return Vec(w_emb.begin() + op * long(H), w_emb.begin() + (op + 1) * long(H));
    }

    enas::ControllerSettings s;
    size_t H;
    std::vector<float> lstm, g_emb, w_emb, w_soft, w1, w2, v;
    Vec c, h;
};

// ----- checks both controllers take -----

// Scores arch (no tape), checks its log-probability and entropy against `ref`, the totals of a
// reference walk in double, and returns the terms for the suite's own checks.
template <class Controller, class Ref>
auto check_score(const Controller& ctl, const ArchOf<Controller>& arch, const Ref& ref) {
    NoGradGuard no_grad;
    const auto t = ctl.score(arch);
    CHECK(value(t.log_prob) == doctest::Approx(ref.log_prob).epsilon(1e-5));
    CHECK(t.entropy == doctest::Approx(ref.entropy).epsilon(1e-5));
    return t;
}

// The gradient of loss() against central differences for every variable of the controller.
template <class Controller, class Loss>
void check_controller_gradients(Controller& ctl, const Loss& loss) {
    const GradCheckResult r = grad_check(loss, ctl.weights().vars());
    CHECK_MESSAGE(r.ok, r.report);
    CHECK(r.checked == ctl.weights().total());
}

// Settings for the bandit: hidden 8, lr 0.05, baseline decay 0.9, Katib's defaults otherwise.
inline enas::ControllerSettings bandit_settings() {
    enas::ControllerSettings s;
    s.hidden_size = 8;
    s.learning_rate = 0.05;
    s.baseline_decay = 0.9;
    return s;
}

// `steps` REINFORCE steps on architectures sampled from Generator(5): reward 1 where hit(arch),
// else 0.
template <class Controller, class Hit>
void train_bandit(Controller& ctl, int steps, const Hit& hit) {
    Generator gen(5);
    for (int step = 0; step < steps; ++step) {
        const auto a = ctl.sample(gen);
        ctl.update(a, hit(a) ? 1.0 : 0.0);
    }
}

}  // namespace cudarts::test
