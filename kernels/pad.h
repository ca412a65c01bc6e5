// Zero padding and the per-channel bias add, NCHW fp32: what Keras-style layers need around a
// convolution ('same' padding, asymmetric at stride 2; zero-padding a skip input up to a common
// size; a biased convolution).
//   pad2d:        y = zeros(n, c, h + top + bottom, w + left + right) with
//                 y[n, c, top + i, left + j] = x[n, c, i, j] (torch.nn.functional.pad with
//                 (left, right, top, bottom), mode "constant", value 0). Backward: dx is the
//                 window of dy the forward wrote x into, dx[n, c, i, j] = dy[n, c, top + i,
//                 left + j]; the border of dy is dropped. Negative pads (cropping) are refused.
//                 It is the plane window at (-top, -left), stride 1, of kernels/resample.h.
//   channel_bias: y[n, c, p] = x[n, c, p] + b[c] for x viewed as (n, c, hw) (hw = 1 for a
//                 (n, c) matrix). Backward: dx = dy, db[c] = sum over n and p of dy[n, c, p].
// Backwards write in a GradMode (kernels/common.h). Shapes are checked by validate(), which
// throws InputError naming the field.
#pragma once

#include <ostream>

#include "kernels/common.h"
#include "kernels/resample.h"  // PlaneWindow

namespace cudarts {

struct Pad2dShape {
    int n, c, h, w;
    int top = 0, bottom = 0, left = 0, right = 0;
    CUDARTS_HD int ho() const { return h + top + bottom; }
    CUDARTS_HD int wo() const { return w + left + right; }
    int64_t in_elems() const { return int64_t(n) * c * h * w; }
    int64_t out_elems() const { return int64_t(n) * c * ho() * wo(); }
    // The window pad2d copies through (kernels/resample.h), after validate().
    PlaneWindow window() const {
        validate();
        return {int64_t(n) * c, h, w, ho(), wo(), -top, -left, 1};
    }
    void validate() const;  // every field >= 0
};
std::ostream& operator<<(std::ostream& os, const Pad2dShape& s);

struct ChannelBiasShape {
    int n, c, hw;  // x viewed as (n, c, hw); b has c elements
    CUDARTS_HD int64_t elems() const { return int64_t(n) * c * hw; }
    CUDARTS_HD int64_t per_channel() const { return int64_t(n) * hw; }  // terms of one db[c]
    void validate() const;                                              // every field >= 0
};
std::ostream& operator<<(std::ostream& os, const ChannelBiasShape& s);

namespace cpu {
void pad2d_fwd(float* y, const float* x, const Pad2dShape& s);
void pad2d_bwd(float* dx, const float* dy, const Pad2dShape& s, GradMode mode);
void channel_bias_fwd(float* y, const float* x, const float* b, const ChannelBiasShape& s);
// dx = dy.
void channel_bias_bwd_data(float* dx, const float* dy, const ChannelBiasShape& s, GradMode mode);
// db[c] = sum of dy over channel c, added in double in (n, p) order.
void channel_bias_bwd_bias(float* db, const float* dy, const ChannelBiasShape& s, GradMode mode);
}  // namespace cpu

// The same on a CUDA device (kernels/cuda/pad.cu): the cpu:: arguments plus the stream. Bit-
// identical to cpu:: except db, a float tree sum (deterministic: the same bits on every run).
// Declared in every build, defined only with CUDA.
namespace cuda {
void pad2d_fwd(float* y, const float* x, const Pad2dShape& s, Stream st);
void pad2d_bwd(float* dx, const float* dy, const Pad2dShape& s, GradMode mode, Stream st);
void channel_bias_fwd(float* y, const float* x, const float* b, const ChannelBiasShape& s,
                      Stream st);
void channel_bias_bwd_data(float* dx, const float* dy, const ChannelBiasShape& s, GradMode mode,
                           Stream st);
void channel_bias_bwd_bias(float* db, const float* dy, const ChannelBiasShape& s, GradMode mode,
                           Stream st);
}  // namespace cuda

}  // namespace cudarts
