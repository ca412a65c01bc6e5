// The ENAS micro controller (micro.h): one walk through the normal and the reduce cell that either
// samples (no tape) or scores a given architecture (on the tape), and the REINFORCE step. As in the
// macro controller everything is a (rows, H) matrix on the CPU built from the autograd ops.
#include "models/enas/micro.h"

#include <cmath>
#include <cstdio>

#include "autograd/ops.h"

namespace cudarts::enas {

namespace {

Var zeros(int64_t rows, int64_t cols) {
    return Var(Tensor::from_vector(std::vector<float>(size_t(rows * cols), 0.f), {rows, cols}));
}

// (1, H) rows stacked into (rows, H): concatenation along dim 1 lays them out row after row.
Var stack_rows(const std::vector<Var>& rows, int64_t hidden) {
    return reshape(concat_channels(rows), {int64_t(rows.size()), hidden});
}

// One uniform draw in [0, 1) with 53 random bits.
double uniform01(Generator& gen) { return double(gen.next_u64() >> 11) * 0x1p-53; }

// The four choices of a node in walk order.
int& slot_of(MicroNode& n, int slot) {
    switch (slot) {
        case 0:
            return n.input1;
        case 1:
            return n.input2;
        case 2:
            return n.op1;
        default:
            return n.op2;
    }
}

const char* cell_name(int cell) { return cell == 0 ? "normal" : "reduce"; }

}  // namespace

// One pass through both cells. With `forced` set every choice is read from it (scoring);
// otherwise each is drawn from `gen` and written to `arch` (sampling).
struct MicroController::Walk {
    const MicroArch* forced = nullptr;
    Generator* gen = nullptr;
    MicroArch arch;

    // A class of the log-probabilities `logp` (1 x classes, CPU) for (cell, node, slot).
    int choose(const Var& logp, int cell, int node, int slot) {
        const int64_t classes = logp.size(1);
        int k = 0;
        if (forced) {
            MicroNode n = (cell == 0 ? forced->normal : forced->reduce)[size_t(node)];
            k = slot_of(n, slot);
        } else {
            const float* lp = logp.data();
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
        slot_of((cell == 0 ? arch.normal : arch.reduce)[size_t(node)], slot) = k;
        return k;
    }
};

MicroController::MicroController(int nodes, const std::vector<std::string>& primitives,
                                 ControllerSettings settings, uint64_t seed)
    : nodes_(nodes), settings_(settings) {
    if (nodes < 1 || nodes > 16)
        throw InputError("nodes: expected 1..16 intermediate nodes per cell, got " +
                         std::to_string(nodes));
    for (const std::string& p : primitives) {
        const std::string name = official_primitive(p);  // InputError for an unknown name
        if (name != "none") ops_.push_back(name);
    }
    if (ops_.empty())
        throw InputError("primitives: expected at least one primitive besides 'none'");
    validate_controller_settings(settings_);
    const int64_t h = settings_.hidden_size, m = int64_t(ops_.size());
    weights_ = std::make_unique<ParamStore>();
    ParamStore& p = *weights_;
    // The macro controller's variables in its creation order.
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
    // TF's Adam defaults, as in the macro controller (controller.cpp explains the formula).
    adam_ = std::make_unique<Adam>(p, AdamOptions{.lr = float(settings_.learning_rate),
                                                  .beta1 = 0.9f,
                                                  .beta2 = 0.999f,
                                                  .eps = 1e-8f,
                                                  .weight_decay = 0.f});
}

void MicroController::check(const MicroArch& arch) const {
    const int m = int(ops_.size());
    for (int cell = 0; cell < 2; ++cell) {
        const std::vector<MicroNode>& nodes = cell == 0 ? arch.normal : arch.reduce;
        if (int(nodes.size()) != nodes_)
            throw InputError(std::string("micro architecture: ") + cell_name(cell) + " cell has " +
                             std::to_string(nodes.size()) + " nodes, expected " +
                             std::to_string(nodes_));
        for (int i = 0; i < nodes_; ++i) {
            MicroNode n = nodes[size_t(i)];
            const std::string at = std::string("micro architecture: ") + cell_name(cell) +
                                   " node " + std::to_string(i);
            for (int slot = 0; slot < 4; ++slot) {
                const int v = slot_of(n, slot);
                const int hi = slot < 2 ? i + 1 : m - 1;
                if (v < 0 || v > hi)
                    throw InputError(at + ": " + (slot < 2 ? "input " : "op ") + std::to_string(v) +
                                     " outside 0.." + std::to_string(hi));
            }
        }
    }
}

Genotype MicroController::genotype(const MicroArch& arch, bool has_reduce) const {
    check(arch);
    Genotype g;
    auto genes = [&](const std::vector<MicroNode>& nodes) {
        std::vector<Gene> out;
        for (const MicroNode& n : nodes) {
            out.push_back({ops_[size_t(n.op1)], n.input1});
            out.push_back({ops_[size_t(n.op2)], n.input2});
        }
        return out;
    };
    g.normal = genes(arch.normal);
    for (int c = 2; c < 2 + nodes_; ++c) g.normal_concat.push_back(c);
    g.has_reduce = has_reduce;
    if (has_reduce) {
        g.reduce = genes(arch.reduce);
        g.reduce_concat = g.normal_concat;
    }
    return g;
}

MicroPolicyTerms MicroController::run(Walk& walk) const {
    const int64_t hidden = settings_.hidden_size;
    const ParamStore& p = *weights_;
    const Var& w_lstm = p.get("lstm.w");
    const Var& g_emb = p.get("g_emb");
    const Var& w_emb = p.get("w_emb");
    const Var& w_soft = p.get("w_soft");
    const Var& w1 = p.get("attn.w1");
    const Var& w2 = p.get("attn.w2");
    const Var& v = p.get("attn.v");
    auto transform = [&](Var logits) {
        if (settings_.temperature) logits = scale(logits, float(1.0 / *settings_.temperature));
        if (settings_.tanh_const) logits = scale(tanh(logits), float(*settings_.tanh_const));
        return logits;
    };

    Var c = zeros(1, hidden);
    Var h = c;
    auto lstm_step = [&](const Var& x) {
        const Var ifog = matmul(concat_channels({x, h}), w_lstm);  // (1, 4H)
        auto gate = [&](int k) { return narrow(ifog, k * hidden, {1, hidden}); };
        const Var i = sigmoid(gate(0)), f = sigmoid(gate(1)), o = sigmoid(gate(2));
        const Var g = tanh(gate(3));
        c = add(mul(i, g), mul(f, c));
        h = mul(o, tanh(c));
    };

    MicroPolicyTerms t;
    Var log_prob;
    // Records the chosen class's log-likelihood and adds the distribution's entropy.
    auto take = [&](const Var& logp, int k) {
        const Var lp = narrow(logp, k, {1});
        log_prob = log_prob.defined() ? add(log_prob, lp) : lp;
        const float* q = logp.data();
        for (int64_t j = 0; j < logp.size(1); ++j) t.entropy -= std::exp(double(q[j])) * q[j];
    };

    walk.arch.normal.assign(size_t(nodes_), {});
    walk.arch.reduce.assign(size_t(nodes_), {});
    for (int cell = 0; cell < 2; ++cell) {
        std::vector<Var> anchors, keys;  // per available input: value fed when chosen, h w1
        Var input = g_emb;
        for (int k = 0; k < 2; ++k) {
            lstm_step(input);
            anchors.push_back(zeros(1, hidden));
            keys.push_back(matmul(h, w1));
        }
        for (int node = 0; node < nodes_; ++node) {
            const int64_t n = node + 2;
            for (int slot = 0; slot < 2; ++slot) {
                lstm_step(input);
                const Var ones(Tensor::from_vector(std::vector<float>(size_t(n), 1.f), {n, 1}));
                const Var query = tanh(add(stack_rows(keys, hidden), matmul(ones, matmul(h, w2))));
                const Var logp = log_softmax(transform(reshape(matmul(query, v), {1, n})));
                const int j = walk.choose(logp, cell, node, slot);
                take(logp, j);
                input = anchors[size_t(j)];
            }
            for (int slot = 2; slot < 4; ++slot) {
                lstm_step(input);
                const Var logp = log_softmax(transform(matmul(h, w_soft)));  // (1, m)
                const int op = walk.choose(logp, cell, node, slot);
                take(logp, op);
                input = narrow(w_emb, int64_t(op) * hidden, {1, hidden});
            }
            lstm_step(input);
            anchors.push_back(h);
            keys.push_back(matmul(h, w1));
            input = g_emb;
        }
    }
    t.log_prob = log_prob;
    return t;
}

MicroArch MicroController::sample(Generator& gen) const {
    NoGradGuard no_grad;
    Walk walk;
    walk.gen = &gen;
    run(walk);
    return walk.arch;
}

MicroPolicyTerms MicroController::score(const MicroArch& arch) const {
    check(arch);
    Walk walk;
    walk.forced = &arch;
    return run(walk);
}

UpdateStats MicroController::update(const MicroArch& arch, double reward) {
    if (!std::isfinite(reward)) {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%g", reward);
        throw InputError(std::string("reward: expected a finite number, got ") + buf);
    }
    check(arch);
    try {
        const MicroPolicyTerms t = score(arch);
        const double r =
            reward + (settings_.entropy_weight ? *settings_.entropy_weight * t.entropy : 0.0);
        // b <- b - (1 - decay)(b - R); the loss reads the updated b, as the macro controller's.
        const double b = baseline_ - (1.0 - settings_.baseline_decay) * (baseline_ - r);
        const Var loss = scale(t.log_prob, float(-(r - b)));
        const double loss_value = loss.value().item();
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
