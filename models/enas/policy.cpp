// The machinery both ENAS controllers share (policy.h): Katib's settings, the pieces of a walk and
// PolicyCore's variables, Adam and REINFORCE step.
#include "models/enas/policy.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "autograd/ops.h"
#include "models/nn/setting.h"
#include "models/run/loop.h"  // wrong_json_type

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

// A setting's text read into its member: an int, a real, or a real or "None".
void parse_into(int& v, const std::string& name, const std::string& text) {
    v = parse_int(name, text);
}
void parse_into(double& v, const std::string& name, const std::string& text) {
    v = parse_double(name, text);
}
void parse_into(std::optional<double>& v, const std::string& name, const std::string& text) {
    v = parse_optional(name, text);
}

// The range of each kind of setting in the table of 2.6: an int is a count (>= 1), a real a
// fraction in (0, 1], an optional real a number > 0 or None.
void require_in_range(const std::optional<double>& v, const std::string& name) {
    if (v && !(*v > 0 && std::isfinite(*v)))
        throw SettingError(name, "expected a number > 0 or None, got " + fmt(*v));
}

void require_in_range(double v, const std::string& name) {
    if (!(v > 0 && v <= 1)) throw SettingError(name, "expected 0 < x <= 1, got " + fmt(v));
}

void require_in_range(int v, const std::string& name) {
    if (v < 1) throw SettingError(name, "expected an integer >= 1, got " + std::to_string(v));
}

// A setting's value as text: 17 significant digits, which read back as the same double.
std::string setting_text(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

std::string setting_text(const std::optional<double>& v) {
    return v ? setting_text(*v) : std::string("None");
}

std::string setting_text(int v) { return std::to_string(v); }

}  // namespace

ControllerSettings parse_controller_settings(
    const std::vector<std::pair<std::string, std::string>>& kv) {
    ControllerSettings s;
    for (const auto& setting : kv) {
        const std::string& name = setting.first;
        const std::string& text = setting.second;
        bool known = false;
        ControllerSettings::fields(s, [&](const char* key, auto& member) {
            if (name != key) return;
            parse_into(member, name, text);
            known = true;
        });
        if (!known)
            throw SettingError(name,
                               "unknown ENAS setting (expected controller_hidden_size, "
                               "controller_temperature, ..., controller_log_every_steps)");
    }
    validate_controller_settings(s);
    return s;
}

void validate_controller_settings(const ControllerSettings& s) {
    ControllerSettings::fields(s,
                               [](const char* name, const auto& v) { require_in_range(v, name); });
}

nlohmann::json controller_settings_json(const ControllerSettings& s) {
    nlohmann::json j = nlohmann::json::object();
    ControllerSettings::fields(s,
                               [&](const char* name, const auto& v) { j[name] = setting_text(v); });
    return j;
}

ControllerSettings controller_settings_from_json(const nlohmann::json& c, const std::string& what) {
    if (!c.is_object()) wrong_json_type(what, "controller", c, "an object of settings");
    std::vector<std::pair<std::string, std::string>> kv;
    for (auto it = c.begin(); it != c.end(); ++it) {
        if (!it.value().is_string())
            wrong_json_type(what + ": controller", it.key().c_str(), it.value(), "a string");
        kv.emplace_back(it.key(), it.value().get<std::string>());
    }
    try {
        return parse_controller_settings(kv);
    } catch (const InputError& e) {
        throw InputError(what + ": controller: " + e.what());
    }
}

// ----- pieces of a walk -----

double uniform01(Generator& gen) { return double(gen.next_u64() >> 11) * 0x1p-53; }

int draw_class(const float* logp, int64_t classes, Generator& gen) {
    const double u = uniform01(gen);
    double cdf = 0;
    for (int64_t c = 0; c < classes; ++c) {
        cdf += std::exp(double(logp[c]));
        if (u < cdf) return int(c);
    }
    return int(classes - 1);  // rounding: a u above the float sum of p lands on the last
}

Var zeros(int64_t rows, int64_t cols) {
    return Var(Tensor::from_vector(std::vector<float>(size_t(rows * cols), 0.f), {rows, cols}));
}

Var stack_rows(const std::vector<Var>& rows, int64_t hidden) {
    return reshape(concat_channels(rows), {int64_t(rows.size()), hidden});
}

Var transform_logits(Var logits, const ControllerSettings& s) {
    if (s.temperature) logits = scale(logits, float(1.0 / *s.temperature));
    if (s.tanh_const) logits = scale(tanh(logits), float(*s.tanh_const));
    return logits;
}

Var attention(const std::vector<Var>& keys, const Var& h, const Var& w2, const Var& v,
              int64_t hidden) {
    const int64_t n = int64_t(keys.size());
    const Var ones(Tensor::from_vector(std::vector<float>(size_t(n), 1.f), {n, 1}));
    const Var query = tanh(add(stack_rows(keys, hidden), matmul(ones, matmul(h, w2))));
    return matmul(query, v);
}

LstmCell::LstmCell(const Var& w, int64_t hidden)
    : w(w), hidden(hidden), c(zeros(1, hidden)), h(c) {}

void LstmCell::step(const Var& x) {
    const Var ifog = matmul(concat_channels({x, h}), w);  // (1, 4H)
    auto gate = [&](int k) { return narrow(ifog, k * hidden, {1, hidden}); };
    const Var i = sigmoid(gate(0)), f = sigmoid(gate(1)), o = sigmoid(gate(2));
    const Var g = tanh(gate(3));
    c = add(mul(i, g), mul(f, c));
    h = mul(o, tanh(c));
}

// ----- PolicyCore -----

void check_reward(double reward) {
    if (!std::isfinite(reward))
        throw InputError("reward: expected a finite number, got " + fmt(reward));
}

void PolicyCore::build(int64_t num_ops, uint64_t seed) {
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

PolicyCore::Vars PolicyCore::vars() const {
    const ParamStore& p = *weights_;
    return {p.get("lstm.w"),  p.get("g_emb"),   p.get("w_emb"), p.get("w_soft"),
            p.get("attn.w1"), p.get("attn.w2"), p.get("attn.v")};
}

UpdateStats PolicyCore::reinforce(double reward, const std::function<ScoredChoices()>& score) {
    try {
        const ScoredChoices t = score();
        const double r =
            reward + (settings_.entropy_weight ? *settings_.entropy_weight * t.entropy : 0.0);
        // b <- b - (1 - decay)(b - R); the loss below reads the updated b (unconfirmed, 2.8).
        const double b = baseline_ - (1.0 - settings_.baseline_decay) * (baseline_ - r);
        // Katib: sum_NLL (R - b) = -log_prob (R - b).
        Var loss = scale(t.log_prob, float(-(r - b)));
        if (t.penalty.defined()) loss = add(loss, scale(t.penalty, float(t.penalty_weight)));
        const double loss_value = loss.value().item();
        // Every parameter is listed, so unused ones get zeros (not stale values).
        backward(loss, weights_->vars());
        const double grad_norm = std::sqrt(squared_norm(weights_->flat_grads()));
        adam_->step();
        baseline_ = b;
        return {r, b, loss_value, grad_norm, t.entropy, t.skip_rate};
    } catch (...) {
        clear_tape();  // score's entries, if backward never ran
        throw;
    }
}

}  // namespace cudarts::enas
