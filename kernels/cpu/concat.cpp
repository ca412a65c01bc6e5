// CPU reference for channel concatenation and slicing (kernels/concat.h).
// In NCHW the channel range [c_begin, c_begin + c_part) of one sample is a single contiguous run
// of c_part*hw floats, so both directions copy n such runs; the strides differ only in the whole
// tensor (c_total*hw per sample) and the part (c_part*hw per sample).
// insert is y[:, c_begin:c_begin+c_part] (op)= x and extract is x (op)= y[:, c_begin:...], where
// (op) is = or += by GradMode. They are each other's adjoint, which the tests check.
#include "kernels/concat.h"

#include "kernels/check.h"

namespace cudarts {

void ChannelRangeShape::validate() const {
    // Every field must be >= 0, checked in this order.
    const struct {
        const char* name;
        int value;
    } fields[] = {
        {"n", n}, {"hw", hw}, {"c_total", c_total}, {"c_begin", c_begin}, {"c_part", c_part}};
    for (const auto& f : fields)
        CUDARTS_CHECK(f.value >= 0,
                      "ChannelRangeShape: " << f.name << " must be >= 0 in " << *this);
    CUDARTS_CHECK(int64_t(c_begin) + c_part <= c_total,
                  "ChannelRangeShape: c_begin + c_part must be <= c_total in " << *this);
}

std::ostream& operator<<(std::ostream& os, const ChannelRangeShape& s) {
    return os << "ChannelRangeShape{n=" << s.n << " c_total=" << s.c_total << " hw=" << s.hw
              << " c_begin=" << s.c_begin << " c_part=" << s.c_part << "}";
}

namespace cpu {

void channel_insert(float* y, const float* x, const ChannelRangeShape& s, GradMode mode) {
    s.validate();
    const int64_t run = int64_t(s.c_part) * s.hw;
    for (int i = 0; i < s.n; ++i) {
        const float* src = x + i * run;
        float* dst = y + (int64_t(i) * s.c_total + s.c_begin) * s.hw;
        for (int64_t k = 0; k < run; ++k) write_grad(dst[k], src[k], mode);
    }
}

void channel_extract(float* x, const float* y, const ChannelRangeShape& s, GradMode mode) {
    s.validate();
    const int64_t run = int64_t(s.c_part) * s.hw;
    for (int i = 0; i < s.n; ++i) {
        const float* src = y + (int64_t(i) * s.c_total + s.c_begin) * s.hw;
        float* dst = x + i * run;
        for (int64_t k = 0; k < run; ++k) write_grad(dst[k], src[k], mode);
    }
}

}  // namespace cpu
}  // namespace cudarts
