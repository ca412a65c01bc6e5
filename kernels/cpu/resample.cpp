// CPU reference for strided sampling (kernels/resample.h): subsample, its scatter backward, and
// the DARTS `none` op.
// Forward walks the outputs and reads x at (offset + i*stride, offset + j*stride). Backward walks
// the inputs instead (a gather), so each dx element is written exactly once and overwrite mode
// needs no separate clearing pass: an input that no output sampled gets 0, or is left alone when
// accumulating.
// zero_fwd multiplies the sample by 0 rather than storing 0, matching the reference x.mul(0.):
// NaN and Inf become NaN, and a negative value gives -0.
#include "kernels/resample.h"

#include "kernels/check.h"

namespace cudarts {

void SubsampleShape::validate() const {
    CUDARTS_CHECK(n >= 0, "SubsampleShape: n must be >= 0 in " << *this);
    CUDARTS_CHECK(c >= 0, "SubsampleShape: c must be >= 0 in " << *this);
    CUDARTS_CHECK(stride >= 1, "SubsampleShape: stride must be >= 1 in " << *this);
    CUDARTS_CHECK(offset >= 0, "SubsampleShape: offset must be >= 0 in " << *this);
    // offset < h and offset < w leave at least one sample per row and column.
    CUDARTS_CHECK(h > offset, "SubsampleShape: h must be > offset in " << *this);
    CUDARTS_CHECK(w > offset, "SubsampleShape: w must be > offset in " << *this);
}

std::ostream& operator<<(std::ostream& os, const SubsampleShape& s) {
    return os << "SubsampleShape{n=" << s.n << " c=" << s.c << " h=" << s.h << " w=" << s.w
              << " stride=" << s.stride << " offset=" << s.offset << "}";
}

namespace cpu {
namespace {

// The output row (or column) that samples input row ih, or -1 when none does.
int sampled_by(int ih, const SubsampleShape& s) {
    const int d = ih - s.offset;
    return (d >= 0 && d % s.stride == 0) ? d / s.stride : -1;
}

}  // namespace

void subsample_fwd(float* y, const float* x, const SubsampleShape& s) {
    s.validate();
    const int64_t planes = int64_t(s.n) * s.c;
    const int ho = s.ho(), wo = s.wo();
    for (int64_t p = 0; p < planes; ++p) {
        const float* xp = x + p * s.h * s.w;
        float* yp = y + p * ho * wo;
        for (int i = 0; i < ho; ++i)
            for (int j = 0; j < wo; ++j)
                yp[i * wo + j] = xp[(s.offset + i * s.stride) * s.w + s.offset + j * s.stride];
    }
}

void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode) {
    s.validate();
    const int64_t planes = int64_t(s.n) * s.c;
    const int ho = s.ho(), wo = s.wo();
    for (int64_t p = 0; p < planes; ++p) {
        const float* dyp = dy + p * ho * wo;
        float* dxp = dx + p * s.h * s.w;
        for (int ih = 0; ih < s.h; ++ih) {
            const int i = sampled_by(ih, s);
            for (int iw = 0; iw < s.w; ++iw) {
                const int j = sampled_by(iw, s);
                const float g = (i >= 0 && j >= 0) ? dyp[i * wo + j] : 0.f;
                write_grad(dxp[ih * s.w + iw], g, mode);
            }
        }
    }
}

void zero_fwd(float* y, const float* x, const SubsampleShape& s) {
    subsample_fwd(y, x, s);
    for (int64_t i = 0; i < s.out_elems(); ++i) y[i] *= 0.f;
}

}  // namespace cpu
}  // namespace cudarts
