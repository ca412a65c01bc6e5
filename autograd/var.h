// The tape-based autograd: Var, the tape, backward, grad mode.
//
// A Var is a handle on a node holding a value Tensor and, once backward has written it, a gradient
// Tensor. Ops on Vars (autograd/ops.h) run their forward kernel and, while grad mode is on and some
// input requires a gradient, record a closure on the thread's tape. backward(loss) replays the tape
// in reverse: each closure asks, input by input, whether a gradient is wanted (needs_grad) and
// writes it with grad_write_mode(): overwrite on the first write of this backward (no memset),
// accumulate afterwards, so a value used twice gets both contributions (micrograd's `+=`).
//
// Only first derivatives. Gradients can be limited to a subset of leaves (the architect wants the
// alpha gradient without weight gradients): backward(loss, {alpha}) marks which nodes lie on a
// path from a wanted leaf, and closures skip everything else.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/common.h"

namespace cudarts {

struct VarNode {
    Tensor value;
    Tensor grad;  // allocated on first write, or preassigned (flat gradient buffers)
    bool requires_grad = false;
    bool is_leaf = true;       // not the output of a recorded op
    uint64_t grad_pass = 0;    // == the running backward pass once grad was written in it
    uint64_t wanted_pass = 0;  // == the running backward pass if a wanted leaf is upstream
    std::string name;
};

class Var {
public:
    Var() = default;
    explicit Var(Tensor value, bool requires_grad = false, std::string name = {});
    // A leaf whose gradient is a preassigned tensor, e.g. a view into a flat gradient buffer.
    static Var with_grad_buffer(Tensor value, Tensor grad, std::string name = {});

    bool defined() const { return node_ != nullptr; }
    const Tensor& value() const;
    const Tensor& grad() const;  // undefined until some backward wrote it (or preassigned)
    float* data() const { return value().f32(); }
    const Shape& shape() const { return value().shape(); }
    int64_t size(int d) const { return value().size(d); }
    int64_t numel() const { return value().numel(); }
    Device device() const { return value().device(); }
    bool requires_grad() const;
    bool is_leaf() const;
    const std::string& name() const;
    void set_requires_grad(bool on);  // leaves only
    bool same_node(const Var& other) const { return node_ == other.node_; }
    std::shared_ptr<VarNode> node() const { return node_; }

    // For backward closures.
    bool needs_grad() const;   // a gradient for this Var is wanted in the running backward
    bool has_grad() const;     // its gradient was written in the running backward
    float* grad_data() const;  // allocates the gradient (same shape and device) on first use
    GradMode grad_write_mode() const;  // first call per backward: overwrite; later: accumulate

private:
    std::shared_ptr<VarNode> node_;
};

// ----- grad mode -----
bool grad_enabled();
class NoGradGuard {  // disables recording in its scope (evaluation, optimizer updates)
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool prev_;
};

// ----- the tape -----
// Records an entry when grad mode is on and some input requires a gradient; then marks the
// outputs as requiring one. Undefined Vars among the inputs are ignored.
void record(const char* op, std::initializer_list<Var> inputs, std::initializer_list<Var> outputs,
            std::function<void()> backward_fn);
void record(const char* op, const std::vector<Var>& inputs, const std::vector<Var>& outputs,
            std::function<void()> backward_fn);
// As record, for an op whose output i depends on its own inputs alone (independent ops run as one,
// as batch_norm_group and conv2d_group): a backward then wants output i only if one of its inputs
// lies downstream of a wanted leaf, not whenever any input does. The inputs are m runs of one per
// output (input j feeds output j % outputs.size(): the xs, then the weights), m >= 1.
void record_paired(const char* op, const std::vector<Var>& inputs, const std::vector<Var>& outputs,
                   std::function<void()> backward_fn);
size_t tape_size();
void clear_tape();  // drops recorded entries (and the activations they keep alive)

// Back-propagates from a one-element loss through the tape, then clears it. With `wrt` empty,
// every leaf that requires a gradient gets one; otherwise only the listed leaves (others keep
// whatever gradient they had). A wanted leaf that the loss does not depend on gets zeros.
void backward(const Var& loss, const std::vector<Var>& wrt = {});

// A Var sharing x's value but cut from the graph.
Var detach(const Var& x);

}  // namespace cudarts
