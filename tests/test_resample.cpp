// Strided sampling CPU reference: output sizes for odd and even inputs at offsets 0 and 1, the
// sampled values against their formula, the scatter backward by central differences and an
// adjoint identity in both GradModes, and the `none` op's NaN propagation.
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "kernels/check.h"
#include "kernels/resample.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

const SubsampleShape kShapes[] = {
    {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 2, .offset = 0},
    {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 2, .offset = 1},
    {.n = 2, .c = 3, .h = 8, .w = 6, .stride = 2, .offset = 0},
    {.n = 2, .c = 3, .h = 8, .w = 6, .stride = 2, .offset = 1},
    {.n = 1, .c = 2, .h = 9, .w = 10, .stride = 3, .offset = 2},
};

// x[p, i, j] = 1000 p + 10 i + j + 1 with p the (sample, channel) plane: every value says where
// it came from.
std::vector<float> positional(const SubsampleShape& s) {
    std::vector<float> x;
    for (int p = 0; p < s.n * s.c; ++p)
        for (int i = 0; i < s.h; ++i)
            for (int j = 0; j < s.w; ++j) x.push_back(float(1000 * p + 10 * i + j + 1));
    return x;
}

std::vector<float> subsample(const std::vector<float>& x, const SubsampleShape& s) {
    std::vector<float> y(size_t(s.out_elems()));
    cpu::subsample_fwd(y.data(), x.data(), s);
    return y;
}

}  // namespace

TEST_SUITE("resample") {
    TEST_CASE("subsample shape: 7 gives 4 at offset 0 and 3 at offset 1; 8 gives 4 at both") {
        const SubsampleShape odd{.n = 1, .c = 1, .h = 7, .w = 8};
        CHECK(odd.ho() == 4);
        CHECK(odd.wo() == 4);
        SubsampleShape shifted = odd;
        shifted.offset = 1;
        CHECK(shifted.ho() == 3);
        CHECK(shifted.wo() == 4);
        std::ostringstream os;
        os << shifted;
        CHECK(os.str() == "SubsampleShape{n=1 c=1 h=7 w=8 stride=2 offset=1}");
        CHECK_THROWS_AS((SubsampleShape{.n = 1, .c = 1, .h = 1, .w = 4, .offset = 1}.validate()),
                        Error);
        CHECK_THROWS_AS((SubsampleShape{.n = 1, .c = 1, .h = 4, .w = 4, .stride = 0}.validate()),
                        Error);
    }

    TEST_CASE("subsample fwd: picks x at offset + i*stride on odd and even sizes") {
        for (const SubsampleShape& s : kShapes) {
            CAPTURE(s);
            const std::vector<float> y = subsample(positional(s), s);
            std::vector<float> want;
            for (int p = 0; p < s.n * s.c; ++p)
                for (int i = 0; i < s.ho(); ++i)
                    for (int j = 0; j < s.wo(); ++j)
                        want.push_back(float(1000 * p + 10 * (s.offset + s.stride * i) + s.offset +
                                             s.stride * j + 1));
            check_close(y, want, 0, 0, "y");
        }
        // the 7x7 corner by hand: offset 0 keeps rows/columns 0,2,4,6, offset 1 keeps 1,3,5
        const SubsampleShape s{.n = 1, .c = 1, .h = 7, .w = 7, .offset = 1};
        const std::vector<float> y = subsample(positional(s), s);
        REQUIRE(y.size() == 9);
        CHECK(y[0] == 12.f);  // x[1][1]
        CHECK(y[8] == 56.f);  // x[5][5]
    }

    TEST_CASE("subsample bwd: matches central differences and is the forward's adjoint") {
        for (const SubsampleShape& s : kShapes) {
            CAPTURE(s);
            const std::vector<float> x = uniform(s.in_elems(), 1), r = uniform(s.out_elems(), 2);
            const std::vector<float> dx = bwd_both_modes(
                s.in_elems(), [&](float* d, GradMode m) { cpu::subsample_bwd(d, r.data(), s, m); },
                "dx", 0, 0);
            const auto loss = [&](const std::vector<float>& v) { return dot(r, subsample(v, s)); };
            check_grad(dx, numeric_grad(loss, x), "dx");
            // <r, S x> = <S^T r, x>, and S^T r holds exactly out_elems non-zeros
            CHECK(dot(r, subsample(x, s)) == doctest::Approx(dot(dx, x)).epsilon(1e-12));
            int64_t nonzero = 0;
            for (float v : dx) nonzero += v != 0.f;
            CHECK(nonzero == s.out_elems());
        }
    }

    TEST_CASE("zero fwd: zeros at the sampled size, NaN and Inf in x become NaN") {
        for (const SubsampleShape& s : kShapes) {
            CAPTURE(s);
            std::vector<float> x = uniform(s.in_elems(), 3);
            const int64_t sampled_nan =
                (int64_t(s.offset) + s.stride) * s.w + s.offset;             // y[0,0,1,0]
            const int64_t sampled_inf = int64_t(s.offset) * s.w + s.offset;  // y[0,0,0,0]
            const int64_t unsampled =
                int64_t(s.offset) * s.w + s.offset + 1;  // between two samples
            x[size_t(sampled_nan)] = std::nanf("");
            x[size_t(sampled_inf)] = std::numeric_limits<float>::infinity();
            x[size_t(unsampled)] = std::nanf("");
            std::vector<float> y(size_t(s.out_elems()), 7.f);
            cpu::zero_fwd(y.data(), x.data(), s);
            CHECK(std::isnan(y[0]));
            CHECK(std::isnan(y[size_t(s.wo())]));
            for (size_t i = 0; i < y.size(); ++i) {
                if (i == 0 || i == size_t(s.wo())) continue;
                CAPTURE(i);
                CHECK(y[i] == 0.f);  // -0 compares equal
            }
        }
    }

}  // TEST_SUITE("resample")
