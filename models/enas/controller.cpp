// The ENAS macro controller (controller.h): Katib's settings, one walk through the layers that
// either samples (no tape) or scores a given architecture (on the tape), and the REINFORCE step.
// Everything is a (rows, H) matrix on the CPU, built from the autograd ops; the only local op is
// log_sigmoid, which the skip penalty needs and ops.h lacks.
#include "models/enas/controller.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "autograd/ops.h"
#include "models/nn/setting.h"

namespace cudarts::enas {

namespace {

// ----- settings -----

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

int parse_int(const std::string& name, const std::string& text) {
    int v = 0;
    const char* end = text.data() + text.size();
    const auto r = std::from_chars(text.data(), end, v);
    if (text.empty() || r.ec != std::errc() || r.ptr != end)
        throw SettingError(name, "expected an integer, got '" + text + "'");
    return v;
}

double parse_double(const std::string& name, const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
        throw SettingError(name, "expected a finite number, got '" + text + "'");
    return v;
}

std::optional<double> parse_optional(const std::string& name, const std::string& text) {
    if (text == "None") return std::nullopt;
    return parse_double(name, text);
}

void require_positive(const std::optional<double>& v, const std::string& name) {
    if (v && !(*v > 0 && std::isfinite(*v)))
        throw SettingError(name, "expected a number > 0 or None, got " + fmt(*v));
}

void require_unit(double v, const std::string& name) {
    if (!(v > 0 && v <= 1)) throw SettingError(name, "expected 0 < x <= 1, got " + fmt(v));
}

void require_count(int v, const std::string& name) {
    if (v < 1) throw SettingError(name, "expected an integer >= 1, got " + std::to_string(v));
}

// ----- small helpers on Vars -----

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

// (1, H) rows stacked into (rows, H): concatenation along dim 1 lays them out row after row.
Var stack_rows(const std::vector<Var>& rows, int64_t hidden) {
    return reshape(concat_channels(rows), {int64_t(rows.size()), hidden});
}

// One uniform draw in [0, 1) with 53 random bits.
double uniform01(Generator& gen) { return double(gen.next_u64() >> 11) * 0x1p-53; }

}  // namespace

ControllerSettings parse_controller_settings(
    const std::vector<std::pair<std::string, std::string>>& kv) {
    ControllerSettings s;
    for (const auto& [name, text] : kv) {
        if (name == "controller_hidden_size")
            s.hidden_size = parse_int(name, text);
        else if (name == "controller_temperature")
            s.temperature = parse_optional(name, text);
        else if (name == "controller_tanh_const")
            s.tanh_const = parse_optional(name, text);
        else if (name == "controller_entropy_weight")
            s.entropy_weight = parse_optional(name, text);
        else if (name == "controller_baseline_decay")
            s.baseline_decay = parse_double(name, text);
        else if (name == "controller_learning_rate")
            s.learning_rate = parse_double(name, text);
        else if (name == "controller_skip_target")
            s.skip_target = parse_double(name, text);
        else if (name == "controller_skip_weight")
            s.skip_weight = parse_optional(name, text);
        else if (name == "controller_train_steps")
            s.train_steps = parse_int(name, text);
        else if (name == "controller_log_every_steps")
            s.log_every_steps = parse_int(name, text);
        else
            throw SettingError(name,
                               "unknown ENAS setting (expected controller_hidden_size, "
                               "controller_temperature, ..., controller_log_every_steps)");
    }
    validate_controller_settings(s);
    return s;
}

void validate_controller_settings(const ControllerSettings& s) {
    require_count(s.hidden_size, "controller_hidden_size");
    require_positive(s.temperature, "controller_temperature");
    require_positive(s.tanh_const, "controller_tanh_const");
    require_positive(s.entropy_weight, "controller_entropy_weight");
    require_unit(s.baseline_decay, "controller_baseline_decay");
    require_unit(s.learning_rate, "controller_learning_rate");
    require_unit(s.skip_target, "controller_skip_target");
    require_positive(s.skip_weight, "controller_skip_weight");
    require_count(s.train_steps, "controller_train_steps");
    require_count(s.log_every_steps, "controller_log_every_steps");
}

// One pass through the layers. With `forced` set every choice is read from it (scoring);
// otherwise each is drawn from `gen` and written to `arch` (sampling).
struct Controller::Walk {
    const Architecture* forced = nullptr;
    Generator* gen = nullptr;
    Architecture arch;

    // The class of row `row` of log-probabilities `logp` (rows x classes, CPU) at (layer, slot).
    int choose(const Var& logp, int64_t row, int layer, int slot) {
        const int64_t classes = logp.size(1);
        int k = 0;
        if (forced) {
            k = (*forced)[size_t(layer)][size_t(slot)];
        } else {
            const float* lp = logp.data() + row * classes;
            const double u = uniform01(*gen);
            double cdf = 0;
            k = int(classes - 1);  // rounding: a u above the float sum of p lands on the last
            for (int64_t c = 0; c < classes; ++c) {
                cdf += std::exp(double(lp[c]));
                if (u < cdf) {
                    k = int(c);
                    break;
                }
            }
        }
        arch[size_t(layer)].push_back(k);
        return k;
    }
};

Controller::Controller(int num_layers, int num_ops, ControllerSettings settings, uint64_t seed)
    : num_layers_(num_layers), num_ops_(num_ops), settings_(settings) {
    if (num_layers < 1)
        throw InputError("numLayers: expected at least 1, got " + std::to_string(num_layers));
    if (num_ops < 1)
        throw InputError("operations: expected at least 1 operation id, got " +
                         std::to_string(num_ops));
    validate_controller_settings(settings_);
    if (settings_.skip_weight && settings_.skip_target == 1)
        throw SettingError("controller_skip_target",
                           "1 makes the skip penalty infinite (log of a zero target); use a value "
                           "below 1 or controller_skip_weight=None");
    const int64_t h = settings_.hidden_size, m = num_ops;
    weights_ = std::make_unique<ParamStore>();
    ParamStore& p = *weights_;
    // Katib's creation order: the LSTM, then the embeddings and the softmax, then the attention.
    p.add("lstm.w", {2 * h, 4 * h});
    p.add("g_emb", {1, h});
    p.add("w_emb", {m, h});
    p.add("w_soft", {h, m});
    p.add("attn.w1", {h, h});
    p.add("attn.w2", {h, h});
    p.add("attn.v", {h, 1});
    p.finalize(Device::cpu());
    Generator gen(seed);
    for (int i = 0; i < p.size(); ++i) p.init_uniform(i, 0.01f, gen);
    // Katib uses tf.train.AdamOptimizer (beta 0.9/0.999, eps 1e-8, no weight decay). TF1's update,
    // lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps) with eps the paper's "epsilon hat", is
    // the PyTorch 0.3.1 formula of kernels/optim.h, and its sparse update of the embedding rows
    // still decays every row of m and v; only the float rounding order can differ.
    adam_ = std::make_unique<Adam>(p, AdamOptions{.lr = float(settings_.learning_rate),
                                                  .beta1 = 0.9f,
                                                  .beta2 = 0.999f,
                                                  .eps = 1e-8f,
                                                  .weight_decay = 0.f});
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

PolicyTerms Controller::run(Walk& walk) const {
    const int64_t hidden = settings_.hidden_size;
    const ParamStore& p = *weights_;
    const Var& w_lstm = p.get("lstm.w");
    const Var& w_emb = p.get("w_emb");
    const Var& w_soft = p.get("w_soft");
    const Var& w1 = p.get("attn.w1");
    const Var& w2 = p.get("attn.w2");
    const Var& v = p.get("attn.v");
    const std::optional<double> temperature = settings_.temperature;
    const std::optional<double> tanh_const = settings_.tanh_const;
    auto transform = [&](Var logits) {
        if (temperature) logits = scale(logits, float(1.0 / *temperature));
        if (tanh_const) logits = scale(tanh(logits), float(*tanh_const));
        return logits;
    };
    // -log t_c for the two classes of a skip: 0 (no skip) and 1 (skip).
    const float neg_log_t0 = float(-std::log(1.0 - settings_.skip_target));
    const float neg_log_t1 = float(-std::log(settings_.skip_target));

    Var c = constant(std::vector<float>(size_t(hidden), 0.f), {1, hidden});
    Var h = c;
    auto lstm_step = [&](const Var& x) {
        const Var ifog = matmul(concat_channels({x, h}), w_lstm);  // (1, 4H)
        auto gate = [&](int k) { return narrow(ifog, k * hidden, {1, hidden}); };
        const Var i = sigmoid(gate(0)), f = sigmoid(gate(1)), o = sigmoid(gate(2));
        const Var g = tanh(gate(3));
        c = add(mul(i, g), mul(f, c));
        h = mul(o, tanh(c));
    };

    PolicyTerms t;
    std::vector<Var> log_probs, penalties;
    std::vector<Var> anchors, anchors_w1;  // h and h w1 after each layer's second LSTM step
    Var input = p.get("g_emb");
    walk.arch.assign(size_t(num_layers_), {});
    for (int layer = 0; layer < num_layers_; ++layer) {
        // The op.
        lstm_step(input);
        const Var logp_op = log_softmax(transform(matmul(h, w_soft)));  // (1, m)
        const int op = walk.choose(logp_op, 0, layer, 0);
        const Var lp = narrow(logp_op, op, {1});
        log_probs.push_back(lp);
        const double lp_value = lp.value().item();
        t.entropy += -lp_value * std::exp(lp_value);
        lstm_step(narrow(w_emb, int64_t(op) * hidden, {1, hidden}));

        input = p.get("g_emb");
        if (layer > 0) {
            // The skips: one two-class choice per stored h_j, all rows at once.
            const int64_t l = layer;
            const Var ones = constant(std::vector<float>(size_t(l), 1.f), {l, 1});
            const Var query =
                tanh(add(stack_rows(anchors_w1, hidden), matmul(ones, matmul(h, w2))));
            const Var q = matmul(query, v);                                      // (l, 1)
            const Var logits = transform(concat_channels({scale(q, -1.f), q}));  // (l, 2)
            const Var logp = log_softmax(logits);
            std::vector<float> onehot(size_t(2 * l), 0.f), bits(size_t(l), 0.f);
            int count = 0;
            for (int64_t j = 0; j < l; ++j) {
                const int bit = walk.choose(logp, j, layer, int(j) + 1);
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
        anchors.push_back(h);
        anchors_w1.push_back(matmul(h, w1));
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

Architecture Controller::sample(Generator& gen) const {
    NoGradGuard no_grad;
    Walk walk;
    walk.gen = &gen;
    run(walk);
    return walk.arch;
}

PolicyTerms Controller::score(const Architecture& arch) const {
    check(arch);
    Walk walk;
    walk.forced = &arch;
    return run(walk);
}

UpdateStats Controller::update(const Architecture& arch, double reward) {
    if (!std::isfinite(reward))
        throw InputError("reward: expected a finite number, got " + fmt(reward));
    check(arch);
    try {
        const PolicyTerms t = score(arch);
        const double r =
            reward + (settings_.entropy_weight ? *settings_.entropy_weight * t.entropy : 0.0);
        // b <- b - (1 - decay)(b - R); the loss below reads the updated b (unconfirmed, 2.8).
        const double b = baseline_ - (1.0 - settings_.baseline_decay) * (baseline_ - r);
        // Katib: sum_NLL (R - b) = -log_prob (R - b).
        Var loss = scale(t.log_prob, float(-(r - b)));
        if (settings_.skip_weight && num_layers_ > 1)
            loss = add(loss, scale(t.skip_penalty, float(*settings_.skip_weight)));
        const double loss_value = loss.value().item();
        // Every parameter is listed, so the attention gets zeros when n == 1 (not stale values).
        backward(loss, weights_->vars());
        const double grad_norm = std::sqrt(squared_norm(weights_->flat_grads()));
        adam_->step();
        baseline_ = b;
        return {r, b, loss_value, grad_norm};
    } catch (...) {
        clear_tape();  // score's entries, if backward never ran
        throw;
    }
}

}  // namespace cudarts::enas
