// Channel concatenation CPU reference: three parts inserted at rising offsets and extracted back,
// the layout against a naive index formula, the adjoint identity <u, insert(x)> = <extract(u), x>,
// central differences, both GradModes, and validate() rejecting ranges past c_total.
#include <cmath>
#include <sstream>

#include "kernels/check.h"
#include "kernels/concat.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

TEST_SUITE("concat") {
    TEST_CASE("channel_insert and channel_extract: three parts round-trip through a concat") {
        const int n = 3, hw = 5, parts[3] = {2, 3, 4}, c_total = 9;
        std::vector<std::vector<float>> xs;
        std::vector<float> y(size_t(n * c_total * hw), std::nanf(""));
        int c_begin = 0;
        for (int k = 0; k < 3; ++k) {
            const ChannelRangeShape s{
                .n = n, .c_total = c_total, .hw = hw, .c_begin = c_begin, .c_part = parts[k]};
            CAPTURE(s);
            xs.push_back(uniform(s.part_elems(), uint64_t(k + 1)));
            cpu::channel_insert(y.data(), xs.back().data(), s, GradMode::kOverwrite);
            c_begin += parts[k];
        }
        // naive torch.cat(dim=1): y[i, c, j] is part k's [i, c - start_k, j]
        const int start[3] = {0, 2, 5};
        for (int i = 0; i < n; ++i)
            for (int k = 0; k < 3; ++k)
                for (int c = 0; c < parts[k]; ++c)
                    for (int j = 0; j < hw; ++j) {
                        CAPTURE(i);
                        CAPTURE(k);
                        CAPTURE(c);
                        CHECK(y[size_t((i * c_total + start[k] + c) * hw + j)] ==
                              xs[size_t(k)][size_t((i * parts[k] + c) * hw + j)]);
                    }
        for (int k = 0; k < 3; ++k) {
            const ChannelRangeShape s{
                .n = n, .c_total = c_total, .hw = hw, .c_begin = start[k], .c_part = parts[k]};
            CAPTURE(s);
            std::vector<float> back(size_t(s.part_elems()), std::nanf(""));
            cpu::channel_extract(back.data(), y.data(), s, GradMode::kOverwrite);
            check_close(back, xs[size_t(k)], 0, 0, "extracted part");
        }
    }

    TEST_CASE("channel_insert and channel_extract: adjoint, central differences, both GradModes") {
        const ChannelRangeShape s{.n = 3, .c_total = 7, .hw = 5, .c_begin = 2, .c_part = 3};
        CAPTURE(s);
        const int64_t total = int64_t(s.n) * s.c_total * s.hw;
        const std::vector<float> x = uniform(s.part_elems(), 1), u = uniform(total, 2);
        const std::vector<float> y0 = uniform(total, 3), x0 = uniform(s.part_elems(), 4);

        // overwrite: y0 outside the range survives, the range is x
        std::vector<float> y = y0;
        cpu::channel_insert(y.data(), x.data(), s, GradMode::kOverwrite);
        std::vector<float> ext(x.size());
        cpu::channel_extract(ext.data(), y.data(), s, GradMode::kOverwrite);
        check_close(ext, x, 0, 0, "extract(insert(x))");
        // accumulate: y0 + insert-into-zeros(x), x0 + extract(u)
        std::vector<float> inserted(size_t(total), 0.f);
        cpu::channel_insert(inserted.data(), x.data(), s, GradMode::kOverwrite);
        std::vector<float> y_acc = y0, want_y(y0.size());
        cpu::channel_insert(y_acc.data(), x.data(), s, GradMode::kAccumulate);
        for (size_t i = 0; i < want_y.size(); ++i) want_y[i] = y0[i] + inserted[i];
        check_close(y_acc, want_y, 0, 0, "insert accumulate");
        for (size_t i = 0; i < y.size(); ++i)
            if (inserted[i] == 0.f) CHECK(y[i] == y0[i]);

        std::vector<float> xu(x.size());
        cpu::channel_extract(xu.data(), u.data(), s, GradMode::kOverwrite);
        std::vector<float> x_acc = x0, want_x(x0.size());
        cpu::channel_extract(x_acc.data(), u.data(), s, GradMode::kAccumulate);
        for (size_t i = 0; i < want_x.size(); ++i) want_x[i] = x0[i] + xu[i];
        check_close(x_acc, want_x, 0, 0, "extract accumulate");

        // <u, insert(x)> = <extract(u), x>
        CHECK(dot(u, inserted) == doctest::Approx(dot(xu, x)).epsilon(1e-12));

        // d/dx <u, insert(x)> = extract(u), d/dy <x, extract(y)> = insert(x)
        const auto loss_insert = [&](const std::vector<float>& v) {
            std::vector<float> out = y0;
            cpu::channel_insert(out.data(), v.data(), s, GradMode::kOverwrite);
            return dot(u, out);
        };
        check_grad(xu, numeric_grad(loss_insert, x), "d insert / dx");
        const auto loss_extract = [&](const std::vector<float>& v) {
            std::vector<float> out(x.size());
            cpu::channel_extract(out.data(), v.data(), s, GradMode::kOverwrite);
            return dot(x, out);
        };
        check_grad(inserted, numeric_grad(loss_extract, u), "d extract / dy");
    }

    TEST_CASE("channel range shape: rejects a range past c_total, prints itself") {
        const ChannelRangeShape ok{.n = 2, .c_total = 6, .hw = 4, .c_begin = 2, .c_part = 4};
        CHECK_NOTHROW(ok.validate());
        ChannelRangeShape bad = ok;
        bad.c_part = 5;
        CHECK_THROWS_AS(bad.validate(), Error);
        bad = ok;
        bad.c_begin = -1;
        CHECK_THROWS_AS(bad.validate(), Error);
        std::ostringstream os;
        os << ok;
        CHECK(os.str() == "ChannelRangeShape{n=2 c_total=6 hw=4 c_begin=2 c_part=4}");
        std::vector<float> y(48), x(32);
        CHECK_THROWS_AS(cpu::channel_insert(y.data(), x.data(), bad, GradMode::kOverwrite), Error);
    }

}  // TEST_SUITE("concat")
