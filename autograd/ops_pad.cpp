// Differentiable zero padding and per-channel bias add (kernels/pad.h): the forward kernel on the
// input's device, then a closure computing only the gradients somebody wants.
// pad2d with all four pads zero returns x itself: no copy, nothing recorded, the gradient of the
// result is x's own. channel_bias takes x of any rank >= 2, (n, c, ...), viewed as (n, c, hw).
// Shapes that do not fit throw InputError naming the op and the tensors.
#include <sstream>

#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/pad.h"

namespace cudarts {

using detail::new_output;
using detail::op_device;

Var pad2d(const Var& x, int top, int bottom, int left, int right) {
    const Device dev = x.device();
    if (x.value().ndim() != 4) {
        std::ostringstream os;
        os << "pad2d: expected an NCHW tensor, got " << x.value();
        throw InputError(os.str());
    }
    // x's dims, then the four pads in pad2d's order.
    const Pad2dShape s{int(x.size(0)), int(x.size(1)), int(x.size(2)), int(x.size(3)), top,
                       bottom,         left,           right};
    s.validate();
    if (top == 0 && bottom == 0 && left == 0 && right == 0) return x;
    Var y = new_output({s.n, s.c, s.ho(), s.wo()}, dev);
    CUDARTS_DISPATCH(dev, pad2d_fwd, y.data(), x.data(), s);
    record("pad2d", {x}, {y}, [x, y, s, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, pad2d_bwd, x.grad_data(), y.grad().f32(), s, x.grad_write_mode());
    });
    return y;
}

Var channel_bias(const Var& x, const Var& b) {
    const Device dev = op_device("channel_bias", {&x, &b});
    if (x.value().ndim() < 2 || b.numel() != x.size(1)) {
        std::ostringstream os;
        os << "channel_bias: expected x (n, c, ...) and b of c elements, got x " << x.value()
           << " and b " << b.value();
        throw InputError(os.str());
    }
    const int n = int(x.size(0)), c = int(x.size(1));
    const ChannelBiasShape s{
        .n = n, .c = c, .hw = n * c == 0 ? 0 : int(x.numel() / (int64_t(n) * c))};
    s.validate();
    Var y = new_output(x.shape(), dev);
    CUDARTS_DISPATCH(dev, channel_bias_fwd, y.data(), x.data(), b.data(), s);
    record("channel_bias", {x, b}, {y}, [x, b, y, s, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, channel_bias_bwd_data, x.grad_data(), y.grad().f32(), s,
                             x.grad_write_mode());
        if (b.needs_grad())
            CUDARTS_DISPATCH(dev, channel_bias_bwd_bias, b.grad_data(), y.grad().f32(), s,
                             b.grad_write_mode());
    });
    return y;
}

}  // namespace cudarts
