// Oracles for the reference dense layers: hand-computed products, naive triple loops in double,
// central-difference gradients of every input, null gradient outputs and both write modes.
#include <limits>
#include <sstream>
#include <vector>

#include "kernels/linear.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

// Small shapes take Eigen's coefficient-wise product, larger ones its blocked GEMM: test both.
const std::vector<LinearShape> kLinearShapes = {
    {.rows = 1, .in = 1, .out = 1},
    {.rows = 7, .in = 5, .out = 3},
    {.rows = 37, .in = 45, .out = 29},
};
const std::vector<MatmulShape> kMatmulShapes = {
    {.m = 1, .k = 1, .n = 1},
    {.m = 5, .k = 7, .n = 3},
    {.m = 33, .k = 41, .n = 27},
};

std::vector<double> naive_linear(const std::vector<float>& x, const std::vector<float>& w,
                                 const float* b, const LinearShape& s) {
    std::vector<double> y(size_t(s.rows) * s.out);
    for (int r = 0; r < s.rows; ++r)
        for (int o = 0; o < s.out; ++o) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < s.in; ++i) acc += double(x[r * s.in + i]) * w[o * s.in + i];
            y[r * s.out + o] = acc;
        }
    return y;
}

std::vector<double> naive_matmul(const std::vector<float>& a, const std::vector<float>& b,
                                 const MatmulShape& s) {
    std::vector<double> c(size_t(s.m) * s.n, 0.0);
    for (int i = 0; i < s.m; ++i)
        for (int p = 0; p < s.k; ++p)
            for (int j = 0; j < s.n; ++j) c[i * s.n + j] += double(a[i * s.k + p]) * b[p * s.n + j];
    return c;
}

std::vector<float> linear(const std::vector<float>& x, const std::vector<float>& w, const float* b,
                          const LinearShape& s) {
    std::vector<float> y(size_t(s.rows) * s.out);
    cpu::linear_fwd(y.data(), x.data(), w.data(), b, s);
    return y;
}

std::vector<float> matmul(const std::vector<float>& a, const std::vector<float>& b,
                          const MatmulShape& s) {
    std::vector<float> c(size_t(s.m) * s.n);
    cpu::matmul_fwd(c.data(), a.data(), b.data(), s);
    return c;
}

std::vector<float> plus(std::vector<float> a, const std::vector<float>& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
}

std::vector<float> poisoned(size_t n) {
    return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

}  // namespace

TEST_SUITE("linear") {
    TEST_CASE("linear fwd: matches a hand-computed case with bias") {
        // x = [1 2], W rows (1 0), (0 1), (1 1), b = (0.5, -1, 2): y = (1.5, 1, 5)
        const LinearShape s{.rows = 1, .in = 2, .out = 3};
        const std::vector<float> b = {0.5f, -1.f, 2.f};
        CHECK(linear({1, 2}, {1, 0, 0, 1, 1, 1}, b.data(), s) ==
              std::vector<float>{1.5f, 1.f, 5.f});
        CHECK(linear({1, 2}, {1, 0, 0, 1, 1, 1}, nullptr, s) == std::vector<float>{1.f, 2.f, 3.f});
    }

    TEST_CASE("matmul fwd: matches a hand-computed 2x2 product") {
        const MatmulShape s{.m = 2, .k = 2, .n = 2};
        CHECK(matmul({1, 2, 3, 4}, {5, 6, 7, 8}, s) == std::vector<float>{19, 22, 43, 50});
    }

    TEST_CASE("linear fwd: matches a naive loop with and without bias") {
        for (const LinearShape& s : kLinearShapes) {
            CAPTURE(s);
            const auto [x, w, b] =
                uniforms({int64_t(s.rows) * s.in, int64_t(s.out) * s.in, s.out}, 1);
            const double t = tol_for_sum(s.in);
            check_close(linear(x, w, b.data(), s), naive_linear(x, w, b.data(), s), t, t, "y+b");
            check_close(linear(x, w, nullptr, s), naive_linear(x, w, nullptr, s), t, t, "y");
        }
    }

    TEST_CASE("matmul fwd: matches a naive loop") {
        for (const MatmulShape& s : kMatmulShapes) {
            CAPTURE(s);
            const auto [a, b] = uniforms({int64_t(s.m) * s.k, int64_t(s.k) * s.n}, 4);
            const double t = tol_for_sum(s.k);
            check_close(matmul(a, b, s), naive_matmul(a, b, s), t, t, "c");
        }
    }

    TEST_CASE("linear bwd: dx, dW and db match central differences") {
        for (const LinearShape& s : {LinearShape{.rows = 3, .in = 5, .out = 7},
                                     LinearShape{.rows = 9, .in = 4, .out = 2}}) {
            CAPTURE(s);
            const int64_t nx = int64_t(s.rows) * s.in, nw = int64_t(s.out) * s.in;
            const auto [x, w, b, r] = uniforms({nx, nw, s.out, int64_t(s.rows) * s.out}, 11);
            // loss = sum r y
            using V = std::vector<float>;
            const auto loss_x = [&](const V& v) { return dot(r, linear(v, w, b.data(), s)); };
            const auto loss_w = [&](const V& v) { return dot(r, linear(x, v, b.data(), s)); };
            const auto loss_b = [&](const V& v) { return dot(r, linear(x, w, v.data(), s)); };

            std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
            cpu::linear_bwd_data(dx.data(), r.data(), w.data(), s, GradMode::kOverwrite);
            cpu::linear_bwd_weight(dw.data(), db.data(), r.data(), x.data(), s,
                                   GradMode::kOverwrite);
            check_grad(dx, numeric_grad(loss_x, x), "dx");
            check_grad(dw, numeric_grad(loss_w, w), "dW");
            check_grad(db, numeric_grad(loss_b, b), "db");
        }
    }

    TEST_CASE("matmul bwd: dA and dB match central differences") {
        for (const MatmulShape& s :
             {MatmulShape{.m = 3, .k = 5, .n = 7}, MatmulShape{.m = 6, .k = 2, .n = 3}}) {
            CAPTURE(s);
            const auto [a, b, r] =
                uniforms({int64_t(s.m) * s.k, int64_t(s.k) * s.n, int64_t(s.m) * s.n}, 21);
            const auto loss_a = [&](const std::vector<float>& v) {
                return dot(r, matmul(v, b, s));
            };
            const auto loss_b = [&](const std::vector<float>& v) {
                return dot(r, matmul(a, v, s));
            };

            std::vector<float> da(a.size()), db(b.size());
            cpu::matmul_bwd(da.data(), db.data(), r.data(), a.data(), b.data(), s,
                            GradMode::kOverwrite, GradMode::kOverwrite);
            check_grad(da, numeric_grad(loss_a, a), "dA");
            check_grad(db, numeric_grad(loss_b, b), "dB");
        }
    }

    TEST_CASE("linear bwd: overwrite replaces, accumulate adds, null outputs are skipped") {
        const LinearShape s = kLinearShapes[2];
        CAPTURE(s);
        const auto [x, w, dy] =
            uniforms({int64_t(s.rows) * s.in, int64_t(s.out) * s.in, int64_t(s.rows) * s.out}, 31);

        std::vector<float> dx = poisoned(x.size()), dw = poisoned(w.size()), db = poisoned(s.out);
        cpu::linear_bwd_data(dx.data(), dy.data(), w.data(), s, GradMode::kOverwrite);
        cpu::linear_bwd_weight(dw.data(), db.data(), dy.data(), x.data(), s, GradMode::kOverwrite);
        // Against the naive product: dx = dy W, dW = dy^T x, db = column sums of dy.
        std::vector<double> dx_want(x.size(), 0.0), dw_want(w.size(), 0.0), db_want(s.out, 0.0);
        for (int r = 0; r < s.rows; ++r)
            for (int o = 0; o < s.out; ++o) {
                db_want[o] += dy[r * s.out + o];
                for (int i = 0; i < s.in; ++i) {
                    dx_want[r * s.in + i] += double(dy[r * s.out + o]) * w[o * s.in + i];
                    dw_want[o * s.in + i] += double(dy[r * s.out + o]) * x[r * s.in + i];
                }
            }
        check_close(dx, dx_want, tol_for_sum(s.out), tol_for_sum(s.out), "dx");
        check_close(dw, dw_want, tol_for_sum(s.rows), tol_for_sum(s.rows), "dW");
        check_close(db, db_want, 1e-6, 1e-6, "db");

        const std::vector<float> dx0 = uniform(x.size(), 34), dw0 = uniform(w.size(), 35);
        const std::vector<float> db0 = uniform(s.out, 36);
        std::vector<float> dx_acc = dx0, dw_acc = dw0, db_acc = db0;
        cpu::linear_bwd_data(dx_acc.data(), dy.data(), w.data(), s, GradMode::kAccumulate);
        cpu::linear_bwd_weight(dw_acc.data(), db_acc.data(), dy.data(), x.data(), s,
                               GradMode::kAccumulate);
        check_close(dx_acc, plus(dx0, dx), 1e-6, 1e-6, "dx accumulate");
        check_close(dw_acc, plus(dw0, dw), 1e-6, 1e-6, "dW accumulate");
        check_close(db_acc, plus(db0, db), 1e-6, 1e-6, "db accumulate");

        std::vector<float> only_dw = poisoned(w.size()), only_db = poisoned(s.out);
        cpu::linear_bwd_weight(only_dw.data(), nullptr, dy.data(), x.data(), s,
                               GradMode::kOverwrite);
        cpu::linear_bwd_weight(nullptr, only_db.data(), dy.data(), x.data(), s,
                               GradMode::kOverwrite);
        cpu::linear_bwd_data(nullptr, dy.data(), w.data(), s, GradMode::kOverwrite);
        CHECK(only_dw == dw);
        CHECK(only_db == db);
    }

    TEST_CASE("linear bwd_weight: an empty batch overwrites dW and db with zeros") {
        const LinearShape s{.rows = 0, .in = 5, .out = 3};
        std::vector<float> dw(15, 7.f), db(3, 7.f);
        cpu::linear_bwd_weight(dw.data(), db.data(), nullptr, nullptr, s, GradMode::kOverwrite);
        CHECK(dw == std::vector<float>(15, 0.f));
        CHECK(db == std::vector<float>(3, 0.f));
    }

    TEST_CASE("matmul bwd: each input keeps its own write mode, null outputs are skipped") {
        const MatmulShape s = kMatmulShapes[2];
        CAPTURE(s);
        const auto [a, b, dc] =
            uniforms({int64_t(s.m) * s.k, int64_t(s.k) * s.n, int64_t(s.m) * s.n}, 41);

        std::vector<float> da = poisoned(a.size()), db = poisoned(b.size());
        cpu::matmul_bwd(da.data(), db.data(), dc.data(), a.data(), b.data(), s,
                        GradMode::kOverwrite, GradMode::kOverwrite);
        std::vector<double> da_want(a.size(), 0.0), db_want(b.size(), 0.0);
        for (int i = 0; i < s.m; ++i)
            for (int p = 0; p < s.k; ++p)
                for (int j = 0; j < s.n; ++j) {
                    da_want[i * s.k + p] += double(dc[i * s.n + j]) * b[p * s.n + j];
                    db_want[p * s.n + j] += double(a[i * s.k + p]) * dc[i * s.n + j];
                }
        check_close(da, da_want, tol_for_sum(s.n), tol_for_sum(s.n), "dA");
        check_close(db, db_want, tol_for_sum(s.m), tol_for_sum(s.m), "dB");

        // Mixed modes, both ways round: the tape may see A's gradient first and B's again.
        const std::vector<float> da0 = uniform(a.size(), 44), db0 = uniform(b.size(), 45);
        std::vector<float> da_acc = da0, db_over = poisoned(b.size());
        cpu::matmul_bwd(da_acc.data(), db_over.data(), dc.data(), a.data(), b.data(), s,
                        GradMode::kAccumulate, GradMode::kOverwrite);
        check_close(da_acc, plus(da0, da), 1e-6, 1e-6, "dA accumulate");
        CHECK(db_over == db);
        std::vector<float> da_over = poisoned(a.size()), db_acc = db0;
        cpu::matmul_bwd(da_over.data(), db_acc.data(), dc.data(), a.data(), b.data(), s,
                        GradMode::kOverwrite, GradMode::kAccumulate);
        CHECK(da_over == da);
        check_close(db_acc, plus(db0, db), 1e-6, 1e-6, "dB accumulate");

        std::vector<float> only_da = poisoned(a.size()), only_db = poisoned(b.size());
        cpu::matmul_bwd(only_da.data(), nullptr, dc.data(), a.data(), b.data(), s,
                        GradMode::kOverwrite, GradMode::kOverwrite);
        cpu::matmul_bwd(nullptr, only_db.data(), dc.data(), a.data(), b.data(), s,
                        GradMode::kOverwrite, GradMode::kOverwrite);
        CHECK(only_da == da);
        CHECK(only_db == db);
    }

    TEST_CASE("linear shapes: print every field") {
        std::ostringstream os;
        os << LinearShape{.rows = 3, .in = 5, .out = 7} << " "
           << MatmulShape{.m = 2, .k = 4, .n = 6};
        CHECK(os.str() == "LinearShape{rows=3 in=5 out=7} MatmulShape{m=2 k=4 n=6}");
    }

}  // TEST_SUITE("linear")

}  // namespace cudarts
