// The ENAS micro controller (micro.h): one walk through the normal and the reduce cell that either
// samples (no tape) or scores a given architecture (on the tape), and the REINFORCE step. As in the
// macro controller everything is a (rows, H) matrix on the CPU built from the autograd ops.
#include "models/enas/micro.h"

#include <cmath>

#include "autograd/ops.h"

namespace cudarts::enas {

namespace {

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

// A class of the log-probabilities `logp` (1 x classes, CPU) for (cell, node, slot).
// Read from the forced architecture when the walk has one (scoring), else drawn from its
// generator (sampling); written to the walk's architecture either way.
int choose(Walk<MicroArch>& walk, const Var& logp, int cell, int node, int slot) {
    const int64_t classes = logp.size(1);
    int k = 0;
    if (walk.forced) {
        MicroNode n = (cell == 0 ? walk.forced->normal : walk.forced->reduce)[size_t(node)];
        k = slot_of(n, slot);
    } else {
        k = draw_class(logp.data(), classes, *walk.gen);
    }
    slot_of((cell == 0 ? walk.arch.normal : walk.arch.reduce)[size_t(node)], slot) = k;
    return k;
}

}  // namespace

MicroController::MicroController(int nodes, const std::vector<std::string>& primitives,
                                 ControllerSettings settings, uint64_t seed)
    : Policy(settings), nodes_(nodes) {
    if (nodes < 1 || nodes > 16)
        throw InputError("nodes: expected 1..16 intermediate nodes per cell, got " +
                         std::to_string(nodes));
    for (const std::string& p : primitives) {
        const std::string name = official_primitive(p);  // InputError for an unknown name
        if (name != "none") ops_.push_back(name);
    }
    if (ops_.empty())
        throw InputError("primitives: expected at least one primitive besides 'none'");
    validate_controller_settings(settings);
    build(int64_t(ops_.size()), seed);  // the macro controller's variables and Adam
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

MicroPolicyTerms MicroController::run(Walk<MicroArch>& walk) const {
    const ControllerSettings& s = settings();
    const int64_t hidden = s.hidden_size;
    const Vars p = vars();
    LstmCell lstm(p.lstm, hidden);

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
        Var input = p.g_emb;
        for (int k = 0; k < 2; ++k) {
            lstm.step(input);
            anchors.push_back(zeros(1, hidden));
            keys.push_back(matmul(lstm.h, p.w1));
        }
        for (int node = 0; node < nodes_; ++node) {
            const int64_t n = node + 2;
            for (int slot = 0; slot < 2; ++slot) {
                lstm.step(input);
                const Var q = attention(keys, lstm.h, p.w2, p.v, hidden);  // (n, 1)
                const Var logp = log_softmax(transform_logits(reshape(q, {1, n}), s));
                const int j = choose(walk, logp, cell, node, slot);
                take(logp, j);
                input = anchors[size_t(j)];
            }
            for (int slot = 2; slot < 4; ++slot) {
                lstm.step(input);
                const Var logp =
                    log_softmax(transform_logits(matmul(lstm.h, p.w_soft), s));  // (1, m)
                const int op = choose(walk, logp, cell, node, slot);
                take(logp, op);
                input = narrow(p.w_emb, int64_t(op) * hidden, {1, hidden});
            }
            lstm.step(input);
            anchors.push_back(lstm.h);
            keys.push_back(matmul(lstm.h, p.w1));
            input = p.g_emb;
        }
    }
    t.log_prob = log_prob;
    return t;
}

// The macro controller's step without the skip penalty.
ScoredChoices MicroController::scored(const MicroPolicyTerms& t) const {
    ScoredChoices scored;
    scored.log_prob = t.log_prob;
    scored.entropy = t.entropy;
    return scored;
}

}  // namespace cudarts::enas
