// Broadcast multiply by a mask in the three layouts DARTS uses (plain dropout, per-sample drop
// path, locked RNN dropout): forward and backward against an independently indexed loop, both
// write modes, and a central-difference gradient check.
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "kernels/dropout.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Layout {
    const char* name;
    BroadcastShape shape;
};

// plain (numel), per-sample drop path on (N=3, C*H*W=2*3*5), locked over (T=4, B*D=2*5).
const Layout kLayouts[] = {
    {"plain", {1, 37, 1}},
    {"per-sample", {1, 3, 30}},
    {"locked", {4, 10, 1}},
};

// A dropout-like mask: every third entry dropped, the rest scaled by 1/(1-p) for p = 0.2.
std::vector<float> make_mask(int64_t mid) {
    std::vector<float> m(static_cast<size_t>(mid));
    for (int64_t i = 0; i < mid; ++i) m[size_t(i)] = i % 3 == 1 ? 0.f : 1.25f;
    return m;
}

// The mask entry that multiplies flat element e, from the flat index alone.
float mask_at(const std::vector<float>& mask, const BroadcastShape& s, int64_t e) {
    return mask[size_t((e / s.inner) % s.mid)];
}

}  // namespace

TEST_SUITE("dropout") {
    TEST_CASE("broadcast_mul fwd: each layout scales by the mask of its middle index") {
        for (const Layout& l : kLayouts) {
            const BroadcastShape& s = l.shape;
            CAPTURE(l.name);
            const std::vector<float> x = uniform(s.elems(), /*seed=*/1), mask = make_mask(s.mid);
            std::vector<float> y(x.size(), kNaN);
            cpu::broadcast_mul_fwd(y.data(), x.data(), mask.data(), s);
            std::vector<float> want(x.size());
            for (int64_t e = 0; e < s.elems(); ++e)
                want[size_t(e)] = x[size_t(e)] * mask_at(mask, s, e);
            check_close(y, want, 0, 0, "y");
        }
    }

    TEST_CASE("broadcast_mul fwd: per-sample drop path zeroes whole samples") {
        const BroadcastShape s{1, 3, 30};
        const std::vector<float> x = away_from_zero(s.elems(), /*seed=*/2), mask = {2.f, 0.f, 2.f};
        std::vector<float> y(x.size(), kNaN);
        cpu::broadcast_mul_fwd(y.data(), x.data(), mask.data(), s);
        for (int64_t i = 0; i < 30; ++i) {
            CHECK(y[size_t(i)] == 2.f * x[size_t(i)]);
            CHECK(y[size_t(30 + i)] == 0.f);
            CHECK(y[size_t(60 + i)] == 2.f * x[size_t(60 + i)]);
        }
    }

    TEST_CASE("broadcast_mul bwd: each layout in both modes") {
        for (const Layout& l : kLayouts) {
            const BroadcastShape& s = l.shape;
            CAPTURE(l.name);
            const std::vector<float> dy = uniform(s.elems(), /*seed=*/3), mask = make_mask(s.mid);
            std::vector<float> want(dy.size());
            for (int64_t e = 0; e < s.elems(); ++e)
                want[size_t(e)] = dy[size_t(e)] * mask_at(mask, s, e);

            std::vector<float> dx(dy.size(), kNaN);
            cpu::broadcast_mul_bwd(dx.data(), dy.data(), mask.data(), s, GradMode::kOverwrite);
            check_close(dx, want, 0, 0, "dx overwrite");

            const std::vector<float> base = uniform(s.elems(), /*seed=*/4);
            dx = base;
            cpu::broadcast_mul_bwd(dx.data(), dy.data(), mask.data(), s, GradMode::kAccumulate);
            std::vector<double> want_acc(dy.size());
            for (size_t i = 0; i < dy.size(); ++i) want_acc[i] = double(base[i]) + want[i];
            check_close(dx, want_acc, 1e-6, 1e-7, "dx accumulate");
        }
    }

    TEST_CASE("broadcast_mul bwd: matches central differences") {
        for (const Layout& l : kLayouts) {
            const BroadcastShape& s = l.shape;
            CAPTURE(l.name);
            const std::vector<float> x = uniform(s.elems(), /*seed=*/5), r = uniform(s.elems(), 6);
            const std::vector<float> mask = make_mask(s.mid);
            const auto loss = [&](const std::vector<float>& xv) {
                std::vector<float> y(xv.size());
                cpu::broadcast_mul_fwd(y.data(), xv.data(), mask.data(), s);
                return dot(r, y);
            };
            std::vector<float> dx(x.size(), kNaN);
            cpu::broadcast_mul_bwd(dx.data(), r.data(), mask.data(), s, GradMode::kOverwrite);
            check_grad(dx, numeric_grad(loss, x), "dx");
        }
    }

    TEST_CASE("broadcast_mul: empty shapes are legal, negative extents throw") {
        float v = 7.f, m = 0.f;
        cpu::broadcast_mul_fwd(&v, &v, &m, BroadcastShape{0, 5, 3});
        CHECK(v == 7.f);
        CHECK_THROWS_WITH_AS(cpu::broadcast_mul_fwd(&v, &v, &m, BroadcastShape{1, -2, 1}),
                             doctest::Contains("mid"), Error);
        CHECK_THROWS_WITH_AS(BroadcastShape({1, 2, -3}).validate(),
                             doctest::Contains("inner must be >= 0 in BroadcastShape{outer=1 mid=2 "
                                               "inner=-3}"),
                             Error);
    }

}  // TEST_SUITE
