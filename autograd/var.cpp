// The tape and backward. Entries are kept in execution order, so backward is a reverse loop and a
// forward loop over the same vector decides which nodes lie downstream of a wanted leaf.
#include "autograd/var.h"

#include <unordered_set>

#include "kernels/check.h"

namespace cudarts {

namespace {

struct TapeEntry {
    const char* op;
    std::vector<std::shared_ptr<VarNode>> inputs, outputs;
    std::function<void()> backward_fn;
    bool paired = false;  // outputs[i] depends on inputs[j] with j % outputs.size() == i alone
};

thread_local std::vector<TapeEntry> g_tape;
thread_local bool g_grad_enabled = true;
thread_local uint64_t g_pass =
    0;  // the backward pass number: increments at the start of every backward

}  // namespace

Var::Var(Tensor value, bool requires_grad, std::string name) : node_(std::make_shared<VarNode>()) {
    node_->value = std::move(value);
    node_->requires_grad = requires_grad;
    node_->name = std::move(name);
}

Var Var::with_grad_buffer(Tensor value, Tensor grad, std::string name) {
    CUDARTS_CHECK(value.shape() == grad.shape() && value.device() == grad.device(),
                  "Var::with_grad_buffer: value " << value << " vs gradient " << grad);
    Var v(std::move(value), true, std::move(name));
    v.node_->grad = std::move(grad);
    return v;
}

const Tensor& Var::value() const {
    CUDARTS_CHECK(defined(), "Var: value of an undefined Var");
    return node_->value;
}
const Tensor& Var::grad() const {
    CUDARTS_CHECK(defined(), "Var: gradient of an undefined Var");
    return node_->grad;
}
bool Var::requires_grad() const { return defined() && node_->requires_grad; }
bool Var::is_leaf() const { return !defined() || node_->is_leaf; }
const std::string& Var::name() const {
    CUDARTS_CHECK(defined(), "Var: name of an undefined Var");
    return node_->name;
}
void Var::set_requires_grad(bool on) {
    CUDARTS_CHECK(defined() && node_->is_leaf, "Var::set_requires_grad on a non-leaf");
    node_->requires_grad = on;
}

bool Var::needs_grad() const {
    return defined() && node_->requires_grad && node_->wanted_pass == g_pass;
}
bool Var::has_grad() const { return defined() && node_->grad_pass == g_pass; }

float* Var::grad_data() const {
    CUDARTS_CHECK(defined(), "Var: gradient of an undefined Var");
    if (!node_->grad.defined()) node_->grad = Tensor::empty(shape(), device());
    return node_->grad.f32();
}

GradMode Var::grad_write_mode() const {
    CUDARTS_CHECK(defined(), "Var: gradient of an undefined Var");
    if (node_->grad_pass == g_pass) return GradMode::kAccumulate;
    node_->grad_pass = g_pass;
    return GradMode::kOverwrite;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

template <class Range>
static void record_impl(const char* op, const Range& inputs, const Range& outputs,
                        std::function<void()> backward_fn, bool paired = false) {
    if (!g_grad_enabled) return;
    bool any = false;
    for (const Var& v : inputs) any = any || v.requires_grad();
    if (!any) return;
    TapeEntry e{op, {}, {}, std::move(backward_fn), paired};
    for (const Var& v : inputs)
        if (v.defined()) e.inputs.push_back(v.node());
    for (const Var& v : outputs) {
        v.node()->requires_grad = true;
        v.node()->is_leaf = false;
        e.outputs.push_back(v.node());
    }
    g_tape.push_back(std::move(e));
}

void record(const char* op, std::initializer_list<Var> inputs, std::initializer_list<Var> outputs,
            std::function<void()> backward_fn) {
    record_impl(op, inputs, outputs, std::move(backward_fn));
}
void record(const char* op, const std::vector<Var>& inputs, const std::vector<Var>& outputs,
            std::function<void()> backward_fn) {
    record_impl(op, inputs, outputs, std::move(backward_fn));
}

void record_paired(const char* op, const std::vector<Var>& inputs, const std::vector<Var>& outputs,
                   std::function<void()> backward_fn) {
    CUDARTS_CHECK(!outputs.empty() && !inputs.empty() && inputs.size() % outputs.size() == 0,
                  "record_paired: " << op << " pairs " << inputs.size() << " inputs with "
                                    << outputs.size() << " outputs");
    for (const Var& v : inputs)
        CUDARTS_CHECK(v.defined(), "record_paired: " << op << " has an undefined input");
    record_impl(op, inputs, outputs, std::move(backward_fn), true);
}

size_t tape_size() { return g_tape.size(); }
void clear_tape() { g_tape.clear(); }

void backward(const Var& loss, const std::vector<Var>& wrt) {
    CUDARTS_CHECK(loss.defined() && loss.numel() == 1,
                  "backward: the loss must have one element, got " << loss.value());
    ++g_pass;
    std::unordered_set<const VarNode*> wanted_leaves;
    for (const Var& v : wrt) {
        CUDARTS_CHECK(v.is_leaf() && v.requires_grad(),
                      "backward: wrt '" << v.name() << "' is not a leaf that requires grad");
        wanted_leaves.insert(v.node().get());
    }
    auto leaf_wanted = [&](const VarNode* n) {
        return n->requires_grad && (wrt.empty() || wanted_leaves.count(n) > 0);
    };
    // Forward pass over the tape: a node is wanted if a wanted leaf lies upstream of it.
    std::vector<std::shared_ptr<VarNode>> reached_leaves;
    for (const TapeEntry& e : g_tape) {
        bool any = false;
        for (const auto& in : e.inputs) {
            if (in->is_leaf && leaf_wanted(in.get())) {
                if (in->wanted_pass != g_pass) reached_leaves.push_back(in);
                in->wanted_pass = g_pass;
            }
            any = any || in->wanted_pass == g_pass;
        }
        if (e.paired) {
            for (size_t i = 0; i < e.inputs.size(); ++i)
                if (e.inputs[i]->wanted_pass == g_pass)
                    e.outputs[i % e.outputs.size()]->wanted_pass = g_pass;
        } else if (any) {
            for (const auto& out : e.outputs) out->wanted_pass = g_pass;
        }
    }
    if (loss.node()->wanted_pass == g_pass) {
        Tensor one = Tensor::full(loss.shape(), 1.0f, loss.device());
        loss.node()->grad = one;
        loss.node()->grad_pass = g_pass;
        for (auto it = g_tape.rbegin(); it != g_tape.rend(); ++it) {
            bool out_has_grad = false;
            for (const auto& out : it->outputs)
                out_has_grad = out_has_grad || out->grad_pass == g_pass;
            bool in_wanted = false;
            for (const auto& in : it->inputs) in_wanted = in_wanted || in->wanted_pass == g_pass;
            if (out_has_grad && in_wanted) it->backward_fn();
        }
    }
    // Wanted leaves the loss does not reach (or reaches only through unwanted paths) get zeros,
    // as if their gradient had been zeroed before this backward.
    auto zero_if_unwritten = [&](VarNode* n) {
        if (n->grad_pass == g_pass) return;
        if (!n->grad.defined()) n->grad = Tensor::empty(n->value.shape(), n->value.device());
        n->grad.zero_();
        n->grad_pass = g_pass;
    };
    for (const Var& v : wrt) zero_if_unwritten(v.node().get());
    for (const auto& n : reached_leaves) zero_if_unwritten(n.get());
    g_tape.clear();
}

Var detach(const Var& x) { return Var(x.value(), false, x.defined() ? x.name() : std::string()); }

}  // namespace cudarts
