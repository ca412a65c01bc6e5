// Differentiable convolution, pooling and resampling: forward kernel, then a closure that
// computes only the gradients somebody wants (dx and dw of a conv are independent passes).
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/conv.h"
#include "kernels/pool.h"
#include "kernels/resample.h"

namespace cudarts {

using detail::new_output;
using detail::op_device;

static void check_nchw(const Var& x, const char* op) {
    CUDARTS_CHECK(x.value().ndim() == 4, op << ": expected an NCHW tensor, got " << x.value());
}

// The shape of conv2d(x, w, ...), validated, with w checked against it; op names the op in errors.
static Conv2dShape conv_shape(const Var& x, const Var& w, int stride, int pad, int dil, int groups,
                              const char* op) {
    check_nchw(x, op);
    check_nchw(w, op);
    const Conv2dShape s{.n = int(x.size(0)),
                        .c_in = int(x.size(1)),
                        .h = int(x.size(2)),
                        .w = int(x.size(3)),
                        .c_out = int(w.size(0)),
                        .k = int(w.size(2)),
                        .stride = stride,
                        .pad = pad,
                        .dil = dil,
                        .groups = groups};
    s.validate();
    CUDARTS_CHECK(w.size(1) == s.cin_per_group() && w.size(3) == s.k,
                  op << ": weight " << w.value() << " does not fit " << s);
    return s;
}

Var conv2d(const Var& x, const Var& w, int stride, int pad, int dil, int groups) {
    const Device dev = op_device("conv2d", {&x, &w});
    const Conv2dShape s = conv_shape(x, w, stride, pad, dil, groups, "conv2d");
    Var y = new_output({s.n, s.c_out, s.ho(), s.wo()}, dev);
    CUDARTS_DISPATCH(dev, conv2d_fwd, y.data(), x.data(), w.data(), s);
    record("conv2d", {x, w}, {y}, [x, w, y, s, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, conv2d_bwd_data, x.grad_data(), y.grad().f32(), w.data(), s,
                             x.grad_write_mode());
        if (w.needs_grad())
            CUDARTS_DISPATCH(dev, conv2d_bwd_weight, w.grad_data(), y.grad().f32(), x.data(), s,
                             w.grad_write_mode());
    });
    return y;
}

std::vector<Var> conv2d_group(const std::vector<Var>& xs, const std::vector<Var>& ws, int stride,
                              int pad, int dil, int groups) {
    CUDARTS_CHECK(!xs.empty() && xs.size() == ws.size() && xs[0].defined() && ws[0].defined(),
                  "conv2d_group: " << xs.size() << " inputs and " << ws.size() << " weights");
    const Var &x0 = xs[0], &w0 = ws[0];
    const Device dev = op_device("conv2d_group", {&x0, &w0});
    const Conv2dShape s = conv_shape(x0, w0, stride, pad, dil, groups, "conv2d_group");
    std::vector<Var> ys;
    std::vector<ConvFwdItem> items;
    for (size_t i = 0; i < xs.size(); ++i) {
        CUDARTS_CHECK(xs[i].defined() && ws[i].defined() && xs[i].shape() == x0.shape() &&
                          ws[i].shape() == w0.shape() && xs[i].device() == dev &&
                          ws[i].device() == dev,
                      "conv2d_group: item " << i << " is not like item 0 (" << x0.value() << ", "
                                            << w0.value() << ")");
        ys.push_back(new_output({s.n, s.c_out, s.ho(), s.wo()}, dev));
        items.push_back({ys.back().data(), xs[i].data(), ws[i].data()});
    }
    const std::span<const ConvFwdItem> fwd(items);
    CUDARTS_DISPATCH(dev, conv2d_group_fwd, fwd, s);
    std::vector<Var> inputs = xs;
    inputs.insert(inputs.end(), ws.begin(), ws.end());
    record_paired("conv2d_group", inputs, ys, [xs, ws, ys, s, dev] {
        // An input given several times (the convs of one state) gets its gradients summed in
        // item order by one run of the group.
        std::vector<ConvDataGradItem> data_items;
        std::vector<ConvWeightGradItem> weights;
        for (size_t i = 0; i < xs.size(); ++i) {
            if (!ys[i].has_grad()) continue;
            if (xs[i].needs_grad()) {
                float* dx = xs[i].grad_data();
                data_items.push_back(
                    {dx, ys[i].grad().f32(), ws[i].data(), xs[i].grad_write_mode()});
            }
            if (ws[i].needs_grad()) {
                float* dw = ws[i].grad_data();
                weights.push_back({dw, ys[i].grad().f32(), xs[i].data(), ws[i].grad_write_mode()});
            }
        }
        const std::span<const ConvDataGradItem> data(data_items);
        if (!data.empty()) CUDARTS_DISPATCH(dev, conv2d_group_bwd_data, data, s);
        // A weight given twice gets its two gradients in two launches.
        for (const auto& round :
             detail::distinct_rounds(weights, [](const ConvWeightGradItem& g) { return g.dw; })) {
            const std::span<const ConvWeightGradItem> wanted(round);
            CUDARTS_DISPATCH(dev, conv2d_group_bwd_weight, wanted, s);
        }
    });
    return ys;
}

// Max (max = true) or average pooling: the kernels differ, the shape, the output and the tape entry
// do not. max_pool2d's backward rereads x to find each window's argmax.
static Var pool2d(const Var& x, int k, int stride, int pad, bool max) {
    const char* op = max ? "max_pool2d" : "avg_pool2d";
    const Device dev = x.device();
    check_nchw(x, op);
    const Pool2dShape s{
        int(x.size(0)), int(x.size(1)), int(x.size(2)), int(x.size(3)), k, stride, pad};
    s.validate();
    Var y = new_output({s.n, s.c, s.ho(), s.wo()}, dev);
    if (max)
        CUDARTS_DISPATCH(dev, max_pool2d_fwd, y.data(), x.data(), s);
    else
        CUDARTS_DISPATCH(dev, avg_pool2d_fwd, y.data(), x.data(), s);
    record(op, {x}, {y}, [x, y, s, dev, max] {
        if (!x.needs_grad()) return;
        if (max)
            CUDARTS_DISPATCH(dev, max_pool2d_bwd, x.grad_data(), y.grad().f32(), x.data(), s,
                             x.grad_write_mode());
        else
            CUDARTS_DISPATCH(dev, avg_pool2d_bwd, x.grad_data(), y.grad().f32(), s,
                             x.grad_write_mode());
    });
    return y;
}

Var max_pool2d(const Var& x, int k, int stride, int pad) { return pool2d(x, k, stride, pad, true); }

Var avg_pool2d(const Var& x, int k, int stride, int pad) {
    return pool2d(x, k, stride, pad, false);
}

Var global_avg_pool(const Var& x) {
    const Device dev = x.device();
    check_nchw(x, "global_avg_pool");
    const int n = int(x.size(0)), c = int(x.size(1)), hw = int(x.size(2) * x.size(3));
    Var y = new_output({n, c}, dev);
    CUDARTS_DISPATCH(dev, global_avg_pool_fwd, y.data(), x.data(), n, c, hw);
    record("global_avg_pool", {x}, {y}, [x, y, n, c, hw, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, global_avg_pool_bwd, x.grad_data(), y.grad().f32(), n, c, hw,
                             x.grad_write_mode());
    });
    return y;
}

static SubsampleShape subsample_shape(const Var& x, int stride, int offset, const char* op) {
    check_nchw(x, op);
    const SubsampleShape s{int(x.size(0)), int(x.size(1)), int(x.size(2)),
                           int(x.size(3)), stride,         offset};
    s.validate();
    return s;
}

Var subsample(const Var& x, int stride, int offset) {
    const Device dev = x.device();
    const SubsampleShape s = subsample_shape(x, stride, offset, "subsample");
    Var y = new_output({s.n, s.c, s.ho(), s.wo()}, dev);
    CUDARTS_DISPATCH(dev, subsample_fwd, y.data(), x.data(), s);
    record("subsample", {x}, {y}, [x, y, s, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, subsample_bwd, x.grad_data(), y.grad().f32(), s,
                             x.grad_write_mode());
    });
    return y;
}

}  // namespace cudarts
