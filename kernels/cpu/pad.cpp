// CPU reference for zero padding and the per-channel bias add (kernels/pad.h).
// pad2d is the plane window of kernels/cpu/resample.cpp at (-top, -left), stride 1: the forward
// walks the output, zeros outside x; the backward walks dx, so each dx element is written exactly
// once from the dy position the forward copied it to.
// channel_bias_bwd_bias adds each channel's n * hw terms in double, sample by sample and position
// by position, and rounds once: the reference the CUDA tree sum is compared with.
#include "kernels/pad.h"

#include <sstream>

#include "kernels/check.h"

namespace cudarts {
namespace {

// Throws InputError "<struct>: <field> must be >= 0 in <shape>" unless v >= 0.
template <class S>
void require_nonnegative(int v, const char* field, const S& s, const char* type) {
    if (v >= 0) return;
    std::ostringstream os;
    os << type << ": " << field << " must be >= 0, got " << v << " in " << s;
    throw InputError(os.str());
}

}  // namespace

void Pad2dShape::validate() const {
    const char* t = "Pad2dShape";
    require_nonnegative(n, "n", *this, t);
    require_nonnegative(c, "c", *this, t);
    require_nonnegative(h, "h", *this, t);
    require_nonnegative(w, "w", *this, t);
    require_nonnegative(top, "top", *this, t);
    require_nonnegative(bottom, "bottom", *this, t);
    require_nonnegative(left, "left", *this, t);
    require_nonnegative(right, "right", *this, t);
}

std::ostream& operator<<(std::ostream& os, const Pad2dShape& s) {
    return os << "Pad2dShape{n=" << s.n << " c=" << s.c << " h=" << s.h << " w=" << s.w
              << " top=" << s.top << " bottom=" << s.bottom << " left=" << s.left
              << " right=" << s.right << "}";
}

void ChannelBiasShape::validate() const {
    const char* t = "ChannelBiasShape";
    require_nonnegative(n, "n", *this, t);
    require_nonnegative(c, "c", *this, t);
    require_nonnegative(hw, "hw", *this, t);
}

std::ostream& operator<<(std::ostream& os, const ChannelBiasShape& s) {
    return os << "ChannelBiasShape{n=" << s.n << " c=" << s.c << " hw=" << s.hw << "}";
}

namespace cpu {

void pad2d_fwd(float* y, const float* x, const Pad2dShape& s) {
    plane_window_fwd(y, x, s.window());
}

void pad2d_bwd(float* dx, const float* dy, const Pad2dShape& s, GradMode mode) {
    plane_window_bwd(dx, dy, s.window(), mode);
}

void channel_bias_fwd(float* y, const float* x, const float* b, const ChannelBiasShape& s) {
    s.validate();
    for (int i = 0; i < s.n; ++i)
        for (int ch = 0; ch < s.c; ++ch) {
            const int64_t base = (int64_t(i) * s.c + ch) * s.hw;
            for (int p = 0; p < s.hw; ++p) y[base + p] = x[base + p] + b[ch];
        }
}

void channel_bias_bwd_data(float* dx, const float* dy, const ChannelBiasShape& s, GradMode mode) {
    s.validate();
    for (int64_t k = 0; k < s.elems(); ++k) write_grad(dx[k], dy[k], mode);
}

void channel_bias_bwd_bias(float* db, const float* dy, const ChannelBiasShape& s, GradMode mode) {
    s.validate();
    for (int ch = 0; ch < s.c; ++ch) {
        double sum = 0;
        for (int i = 0; i < s.n; ++i) {
            const float* d = dy + (int64_t(i) * s.c + ch) * s.hw;
            for (int p = 0; p < s.hw; ++p) sum += d[p];
        }
        write_grad(db[ch], float(sum), mode);
    }
}

}  // namespace cpu
}  // namespace cudarts
