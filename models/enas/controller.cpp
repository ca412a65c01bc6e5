// The ENAS macro controller (controller.h): one walk through the layers that either samples (no
// tape) or scores a given architecture (on the tape), and the REINFORCE step. Everything is a
// (rows, H) matrix on the CPU, built from the autograd ops and the pieces of policy.h; the only
// local op is log_sigmoid, which the skip penalty needs and ops.h lacks.
#include "models/enas/controller.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "models/nn/setting.h"

namespace cudarts::enas {

namespace {

Var constant(std::vector<float> v, const Shape& shape) {
    return Var(Tensor::from_vector(v, shape));
}

// log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any x; d/dx = sigmoid(-x).
Var log_sigmoid(const Var& x) {
    Var y(Tensor::empty(x.shape()));
    const float* xp = x.data();
    float* yp = y.data();
    for (int64_t i = 0; i < x.numel(); ++i) {
        const double xi = xp[i];
        yp[i] = float(std::min(xi, 0.0) - std::log1p(std::exp(-std::abs(xi))));
    }
    record("log_sigmoid", {x}, {y}, [x, y] {
        if (!x.needs_grad()) return;
        float* dx = x.grad_data();
        const bool accumulate = x.grad_write_mode() == GradMode::kAccumulate;
        const float* xv = x.data();
        const float* dy = y.grad().f32();
        for (int64_t i = 0; i < x.numel(); ++i) {
            const float d = float(dy[i] / (1.0 + std::exp(double(xv[i]))));
            dx[i] = accumulate ? dx[i] + d : d;
        }
    });
    return y;
}

// The class of row `row` of log-probabilities `logp` (rows x classes, CPU) at (layer, slot).
// Read from the forced architecture when the walk has one (scoring), else drawn from its
// generator (sampling); written to the walk's architecture either way.
int choose(Walk<Architecture>& walk, const Var& logp, int64_t row, int layer, int slot) {
    const int64_t classes = logp.size(1);
    int k = 0;
    if (walk.forced) {
        k = (*walk.forced)[size_t(layer)][size_t(slot)];
    } else {
        k = draw_class(logp.data() + row * classes, classes, *walk.gen);
    }
    walk.arch[size_t(layer)].push_back(k);
    return k;
}

}  // namespace

Controller::Controller(int num_layers, int num_ops, ControllerSettings settings, uint64_t seed)
    : Policy(settings), num_layers_(num_layers), num_ops_(num_ops) {
    if (num_layers < 1)
        throw InputError("numLayers: expected at least 1, got " + std::to_string(num_layers));
    if (num_ops < 1)
        throw InputError("operations: expected at least 1 operation id, got " +
                         std::to_string(num_ops));
    validate_controller_settings(settings);
    if (settings.skip_weight && settings.skip_target == 1)
        throw SettingError("controller_skip_target",
                           "1 makes the skip penalty infinite (log of a zero target); use a value "
                           "below 1 or controller_skip_weight=None");
    build(num_ops, seed);
}

void Controller::check(const Architecture& arch) const {
    if (int(arch.size()) != num_layers_)
        throw InputError("architecture: expected " + std::to_string(num_layers_) +
                         " rows (one per layer), got " + std::to_string(arch.size()));
    for (size_t i = 0; i < arch.size(); ++i) {
        const std::string row = "architecture row " + std::to_string(i + 1);
        const std::vector<int>& r = arch[i];
        if (r.size() != i + 1)
            throw InputError(row + ": expected " + std::to_string(i + 1) +
                             " integers (the op and " + std::to_string(i) + " skip bits), got " +
                             std::to_string(r.size()));
        if (r[0] < 0 || r[0] >= num_ops_)
            throw InputError(row + ": op " + std::to_string(r[0]) + " outside 0.." +
                             std::to_string(num_ops_ - 1));
        for (size_t k = 1; k < r.size(); ++k)
            if (r[k] != 0 && r[k] != 1)
                throw InputError(row + ": skip bit " + std::to_string(k) + " is " +
                                 std::to_string(r[k]) + ", expected 0 or 1");
    }
}

PolicyTerms Controller::run(Walk<Architecture>& walk) const {
    const ControllerSettings& s = settings();
    const int64_t hidden = s.hidden_size;
    const Vars p = vars();
    // -log t_c for the two classes of a skip: 0 (no skip) and 1 (skip).
    const float neg_log_t0 = float(-std::log(1.0 - s.skip_target));
    const float neg_log_t1 = float(-std::log(s.skip_target));
    LstmCell lstm(p.lstm, hidden);

    PolicyTerms t;
    std::vector<Var> log_probs, penalties;
    std::vector<Var> anchors, anchors_w1;  // h and h w1 after each layer's second LSTM step
    Var input = p.g_emb;
    walk.arch.assign(size_t(num_layers_), {});
    for (int layer = 0; layer < num_layers_; ++layer) {
        // The op.
        lstm.step(input);
        const Var logp_op = log_softmax(transform_logits(matmul(lstm.h, p.w_soft), s));  // (1, m)
        const int op = choose(walk, logp_op, 0, layer, 0);
        const Var lp = narrow(logp_op, op, {1});
        log_probs.push_back(lp);
        const double lp_value = lp.value().item();
        t.entropy += -lp_value * std::exp(lp_value);
        lstm.step(narrow(p.w_emb, int64_t(op) * hidden, {1, hidden}));

        input = p.g_emb;
        if (layer > 0) {
            // The skips: one two-class choice per stored h_j, all rows at once.
            const int64_t l = layer;
            const Var q = attention(anchors_w1, lstm.h, p.w2, p.v, hidden);                // (l, 1)
            const Var logits = transform_logits(concat_channels({scale(q, -1.f), q}), s);  // (l, 2)
            const Var logp = log_softmax(logits);
            std::vector<float> onehot(size_t(2 * l), 0.f), bits(size_t(l), 0.f);
            int count = 0;
            for (int64_t j = 0; j < l; ++j) {
                const int bit = choose(walk, logp, j, layer, int(j) + 1);
                onehot[size_t(2 * j + bit)] = 1.f;
                bits[size_t(j)] = float(bit);
                count += bit;
                const double lpj = logp.data()[2 * j + bit];
                t.entropy += -lpj * std::exp(lpj);
            }
            log_probs.push_back(sum(mul(logp, constant(onehot, {l, 2}))));
            // sum over j and both classes of s(L) (log s(L) - log t): sigmoid, not softmax.
            std::vector<float> neg_log_t(size_t(2 * l));
            for (int64_t j = 0; j < l; ++j) {
                neg_log_t[size_t(2 * j)] = neg_log_t0;
                neg_log_t[size_t(2 * j + 1)] = neg_log_t1;
            }
            penalties.push_back(
                sum(mul(sigmoid(logits), add(log_sigmoid(logits), constant(neg_log_t, {l, 2})))));
            t.skip_count += count;
            input = scale(matmul(constant(bits, {1, l}), stack_rows(anchors, hidden)),
                          float(1.0 / (1.0 + count)));
        }
        anchors.push_back(lstm.h);
        anchors_w1.push_back(matmul(lstm.h, p.w1));
    }

    t.log_prob = log_probs[0];
    for (size_t k = 1; k < log_probs.size(); ++k) t.log_prob = add(t.log_prob, log_probs[k]);
    if (penalties.empty()) {
        t.skip_penalty = constant({0.f}, {1});
    } else {
        Var total = penalties[0];
        for (size_t k = 1; k < penalties.size(); ++k) total = add(total, penalties[k]);
        t.skip_penalty = scale(total, float(1.0 / double(penalties.size())));
    }
    const int pairs = num_layers_ * (num_layers_ - 1) / 2;
    t.skip_rate = pairs > 0 ? double(t.skip_count) / pairs : 0.0;
    return t;
}

ScoredChoices Controller::scored(const PolicyTerms& t) const {
    ScoredChoices scored;
    scored.log_prob = t.log_prob;
    scored.entropy = t.entropy;
    scored.skip_rate = t.skip_rate;
    if (settings().skip_weight && num_layers_ > 1) {
        scored.penalty = t.skip_penalty;
        scored.penalty_weight = *settings().skip_weight;
    }
    return scored;
}

}  // namespace cudarts::enas
