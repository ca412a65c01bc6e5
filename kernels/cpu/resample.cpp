// CPU reference for strided sampling (kernels/resample.h): the plane window, subsample and its
// scatter backward on it, and the DARTS `none` op.
// The window forward walks the outputs and reads x at (row0 + i*stride, col0 + j*stride), 0 outside
// x. Its backward walks the inputs instead (a gather), so each dx element is written exactly once
// and overwrite mode needs no separate clearing pass: an input that no output shows gets 0, or is
// left alone when accumulating.
// zero_fwd multiplies the sample by 0 rather than storing 0, matching the reference x.mul(0.):
// NaN and Inf become NaN, and a negative value gives -0.
#include "kernels/resample.h"

#include "kernels/check.h"

namespace cudarts {

void SubsampleShape::validate() const {
    // Each field's least legal value, checked in order.
    const struct {
        const char* name;
        int value, least;
    } fields[] = {{"n", n, 0}, {"c", c, 0}, {"stride", stride, 1}, {"offset", offset, 0}};
    for (const auto& f : fields)
        CUDARTS_CHECK(f.value >= f.least,
                      "SubsampleShape: " << f.name << " must be >= " << f.least << " in " << *this);
    // offset < h and offset < w leave at least one sample per row and column.
    CUDARTS_CHECK(h > offset, "SubsampleShape: h must be > offset in " << *this);
    CUDARTS_CHECK(w > offset, "SubsampleShape: w must be > offset in " << *this);
}

std::ostream& operator<<(std::ostream& os, const SubsampleShape& s) {
    return os << "SubsampleShape{n=" << s.n << " c=" << s.c << " h=" << s.h << " w=" << s.w
              << " stride=" << s.stride << " offset=" << s.offset << "}";
}

std::ostream& operator<<(std::ostream& os, const PlaneWindow& g) {
    return os << "PlaneWindow{planes=" << g.planes << " h=" << g.h << " w=" << g.w << " ho=" << g.ho
              << " wo=" << g.wo << " row0=" << g.row0 << " col0=" << g.col0
              << " stride=" << g.stride << "}";
}

namespace cpu {

void plane_window_fwd(float* y, const float* x, const PlaneWindow& g) {
    for (int64_t p = 0; p < g.planes; ++p) {
        const float* xp = x + p * g.h * g.w;
        float* yp = y + p * g.ho * g.wo;
        for (int i = 0; i < g.ho; ++i) {
            const int ih = g.row0 + i * g.stride;  // the row of x this output row shows, if any
            const bool inside = ih >= 0 && ih < g.h;
            for (int j = 0; j < g.wo; ++j) {
                const int iw = g.col0 + j * g.stride;
                yp[i * g.wo + j] = (inside && iw >= 0 && iw < g.w) ? xp[ih * g.w + iw] : 0.f;
            }
        }
    }
}

void plane_window_bwd(float* dx, const float* dy, const PlaneWindow& g, GradMode mode) {
    for (int64_t p = 0; p < g.planes; ++p) {
        const float* dyp = dy + p * g.ho * g.wo;
        float* dxp = dx + p * g.h * g.w;
        for (int ih = 0; ih < g.h; ++ih) {
            const int i = PlaneWindow::shown_at(ih, g.row0, g.stride, g.ho);
            for (int iw = 0; iw < g.w; ++iw) {
                const int j = PlaneWindow::shown_at(iw, g.col0, g.stride, g.wo);
                const float d = (i >= 0 && j >= 0) ? dyp[i * g.wo + j] : 0.f;
                write_grad(dxp[ih * g.w + iw], d, mode);
            }
        }
    }
}

void subsample_fwd(float* y, const float* x, const SubsampleShape& s) {
    plane_window_fwd(y, x, s.window());
}

void subsample_bwd(float* dx, const float* dy, const SubsampleShape& s, GradMode mode) {
    plane_window_bwd(dx, dy, s.window(), mode);
}

void zero_fwd(float* y, const float* x, const SubsampleShape& s) {
    subsample_fwd(y, x, s);
    for (int64_t i = 0; i < s.out_elems(); ++i) y[i] *= 0.f;
}

}  // namespace cpu
}  // namespace cudarts
