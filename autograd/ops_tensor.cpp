// Differentiable channel concatenation, slicing, reshaping and flat narrowing. All are copies
// whose backward is the opposite copy, accumulating where the tape asks for it.
#include "autograd/dispatch.h"
#include "autograd/ops.h"
#include "kernels/concat.h"
#include "kernels/elementwise.h"

namespace cudarts {

using detail::new_output;

// (n, c, rest...) viewed as (n, c, hw).
static void channel_dims(const Var& x, const char* op, int& n, int& c, int& hw) {
    CUDARTS_CHECK(x.value().ndim() >= 2, op << ": expected (n, c, ...), got " << x.value());
    n = int(x.size(0));
    c = int(x.size(1));
    hw = int(x.numel() / (int64_t(n) * c));
}

Var concat_channels(const std::vector<Var>& xs) {
    CUDARTS_CHECK(!xs.empty(), "concat_channels: no inputs");
    int n, c0, hw;
    channel_dims(xs[0], "concat_channels", n, c0, hw);
    const Device dev = xs[0].device();
    int c_total = 0;
    for (const Var& x : xs) {
        int xn, xc, xhw;
        channel_dims(x, "concat_channels", xn, xc, xhw);
        CUDARTS_CHECK(xn == n && xhw == hw && x.device() == dev,
                      "concat_channels: " << x.value() << " does not match " << xs[0].value());
        c_total += xc;
    }
    Shape shape = xs[0].shape();
    shape[1] = c_total;
    Var y = new_output(shape, dev);
    std::vector<ChannelRangeShape> ranges;
    int begin = 0;
    for (const Var& x : xs) {
        const ChannelRangeShape s{n, c_total, hw, begin, int(x.size(1))};
        CUDARTS_DISPATCH(dev, channel_insert, y.data(), x.data(), s, GradMode::kOverwrite);
        ranges.push_back(s);
        begin += s.c_part;
    }
    record("concat_channels", xs, {y}, [xs, y, ranges, dev] {
        for (size_t i = 0; i < xs.size(); ++i)
            if (xs[i].needs_grad())
                CUDARTS_DISPATCH(dev, channel_extract, xs[i].grad_data(), y.grad().f32(), ranges[i],
                                 xs[i].grad_write_mode());
    });
    return y;
}

Var slice_channels(const Var& x, int begin, int count) {
    int n, c, hw;
    channel_dims(x, "slice_channels", n, c, hw);
    const ChannelRangeShape s{n, c, hw, begin, count};
    s.validate();
    const Device dev = x.device();
    Shape shape = x.shape();
    shape[1] = count;
    Var y = new_output(shape, dev);
    CUDARTS_DISPATCH(dev, channel_extract, y.data(), x.data(), s, GradMode::kOverwrite);
    record("slice_channels", {x}, {y}, [x, y, s, dev] {
        if (!x.needs_grad()) return;
        float* dx = x.grad_data();
        // The channels outside the slice get zero on a first write.
        if (x.grad_write_mode() == GradMode::kOverwrite) x.grad().zero_();
        CUDARTS_DISPATCH(dev, channel_insert, dx, y.grad().f32(), s, GradMode::kAccumulate);
    });
    return y;
}

Var reshape(const Var& x, const Shape& shape) {
    CUDARTS_CHECK(shape_numel(shape) == x.numel(),
                  "reshape: " << shape_str(x.shape()) << " to " << shape_str(shape));
    const Device dev = x.device();
    Var y(x.value().reshape(shape));  // shares x's data; the gradient is its own buffer
    record("reshape", {x}, {y}, [x, y, dev] {
        if (x.needs_grad())
            CUDARTS_DISPATCH(dev, copy, x.grad_data(), y.grad().f32(), x.numel(),
                             x.grad_write_mode());
    });
    return y;
}

Var narrow(const Var& x, int64_t offset, const Shape& shape) {
    const int64_t n = shape_numel(shape);
    CUDARTS_CHECK(offset >= 0 && offset + n <= x.numel(),
                  "narrow: " << shape_str(shape) << " at " << offset << " outside " << x.value());
    const Device dev = x.device();
    Var y = new_output(shape, dev);
    CUDARTS_DISPATCH(dev, copy, y.data(), x.data() + offset, n, GradMode::kOverwrite);
    record("narrow", {x}, {y}, [x, y, offset, n, dev] {
        if (!x.needs_grad()) return;
        float* dx = x.grad_data();
        if (x.grad_write_mode() == GradMode::kOverwrite) x.grad().zero_();
        CUDARTS_DISPATCH(dev, copy, dx + offset, y.grad().f32(), n, GradMode::kAccumulate);
    });
    return y;
}

}  // namespace cudarts
