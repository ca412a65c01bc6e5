// CUDA dense layers against the CPU reference (kernels/linear.h): cuBLAS GEMMs in all four
// transpose combinations through the row-major wrapper, the bias add and the deterministic bias
// gradient, on odd shapes and DARTS' (the CIFAR classifier, the recurrent cell's [x|h] W), both
// write modes, null gradient outputs, empty dimensions, and the TF32 switch. Outputs start as
// NaN (overwrite) or non-zero values (accumulate) and carry a guard zone. Runs only with a GPU.
#if CUDARTS_HAS_CUDA

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/check.h"
#include "kernels/cuda/blas.h"
#include "kernels/linear.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

// Odd sizes, the degenerate 1 x 1 x 1, the DARTS CIFAR classifier (the big batch, C_prev 256 after
// global pooling, 10 classes), a batch of the language model's 300-wide embeddings decoded to
// 1000 words, and a rows count that is no multiple of the bias kernel's 8 row lanes.
std::vector<LinearShape> linear_shapes() {
    return {{3, 5, 7},       {17, 34, 9},  {1, 1, 1}, {big_batch(), 256, 10},
            {70, 300, 1000}, {333, 65, 33}};
}

// Odd sizes and the DARTS recurrent cell at batch 64: search ([x|h] 600 wide into 2 x 300,
// then a node's 300 -> 600) and training (1700 -> 1700).
std::vector<MatmulShape> matmul_shapes() {
    return {{3, 5, 7}, {17, 34, 9}, {1, 1, 1}, {64, 600, 600}, {64, 300, 600}, {64, 1700, 1700}};
}

std::vector<float> plus(const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> r(a.size());
    for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
    return r;
}

int64_t elems(int a, int b) { return int64_t(a) * b; }

// Restores FP32 GEMMs when a test that turned TF32 on ends, even by a failed REQUIRE.
struct Tf32Scope {
    explicit Tf32Scope(bool on) { cuda::set_tf32(on); }
    ~Tf32Scope() { cuda::set_tf32(false); }
};

TEST_SUITE("cuda_linear") {
    TEST_CASE("linear fwd cuda: matches cpu with and without bias") {
        for (const LinearShape& s : linear_shapes()) {
            CAPTURE(s);
            const std::vector<float> x = uniform(elems(s.rows, s.in), 1);
            const std::vector<float> w = uniform(elems(s.out, s.in), 2);
            const std::vector<float> b = uniform(s.out, 3);
            const DeviceVec x_dev(x), w_dev(w), b_dev(b);
            for (const bool with_bias : {true, false}) {
                CAPTURE(with_bias);
                std::vector<float> want(size_t(elems(s.rows, s.out)));
                cpu::linear_fwd(want.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, s);
                const DeviceVec y_dev = DeviceVec::poisoned(elems(s.rows, s.out));
                cuda::linear_fwd(y_dev.data(), x_dev.data(), w_dev.data(),
                                 with_bias ? b_dev.data() : nullptr, s, test_stream());
                const double tol = tol_for_sum(s.in + 1);  // in products plus the bias
                check_close(fetch(y_dev), want, tol, tol, "y");
            }
        }
    }

    TEST_CASE("linear bwd cuda: dx, dw and db match cpu in both modes, null outputs skipped") {
        for (const LinearShape& s : linear_shapes()) {
            CAPTURE(s);
            const std::vector<float> x = uniform(elems(s.rows, s.in), 1);
            const std::vector<float> w = uniform(elems(s.out, s.in), 2);
            const std::vector<float> dy = uniform(elems(s.rows, s.out), 4);
            std::vector<float> dx(size_t(elems(s.rows, s.in))), dw(size_t(elems(s.out, s.in))),
                db(size_t(s.out));
            cpu::linear_bwd_data(dx.data(), dy.data(), w.data(), s, GradMode::kOverwrite);
            cpu::linear_bwd_weight(dw.data(), db.data(), dy.data(), x.data(), s,
                                   GradMode::kOverwrite);
            const std::vector<float> dx0 = uniform(elems(s.rows, s.in), 5),
                                     dw0 = uniform(elems(s.out, s.in), 6), db0 = uniform(s.out, 7);
            const double t_data = tol_for_sum(s.out), t_weight = tol_for_sum(s.rows);
            const DeviceVec x_dev(x), w_dev(w), dy_dev(dy);

            const DeviceVec dx_dev = DeviceVec::poisoned(elems(s.rows, s.in)), dx_acc(dx0);
            cuda::linear_bwd_data(dx_dev.data(), dy_dev.data(), w_dev.data(), s,
                                  GradMode::kOverwrite, test_stream());
            cuda::linear_bwd_data(dx_acc.data(), dy_dev.data(), w_dev.data(), s,
                                  GradMode::kAccumulate, test_stream());
            cuda::linear_bwd_data(nullptr, dy_dev.data(), w_dev.data(), s, GradMode::kOverwrite,
                                  test_stream());
            check_close(fetch(dx_dev), dx, t_data, t_data, "dx overwrite");
            check_close(fetch(dx_acc), plus(dx0, dx), t_data, t_data, "dx accumulate");

            const DeviceVec dw_dev = DeviceVec::poisoned(elems(s.out, s.in)),
                            db_dev = DeviceVec::poisoned(s.out), dw_acc(dw0), db_acc(db0);
            cuda::linear_bwd_weight(dw_dev.data(), db_dev.data(), dy_dev.data(), x_dev.data(), s,
                                    GradMode::kOverwrite, test_stream());
            check_close(fetch(dw_dev), dw, t_weight, t_weight, "dw overwrite");
            const std::vector<float> db_first = fetch(db_dev);
            check_close(db_first, db, t_weight, t_weight, "db overwrite");
            // Each gradient alone (the other null), accumulating onto non-zero values.
            cuda::linear_bwd_weight(dw_acc.data(), nullptr, dy_dev.data(), x_dev.data(), s,
                                    GradMode::kAccumulate, test_stream());
            cuda::linear_bwd_weight(nullptr, db_acc.data(), dy_dev.data(), x_dev.data(), s,
                                    GradMode::kAccumulate, test_stream());
            check_close(fetch(dw_acc), plus(dw0, dw), t_weight, t_weight, "dw accumulate");
            check_close(fetch(db_acc), plus(db0, db), t_weight, t_weight, "db accumulate");
            // The bias gradient is a fixed-order reduction: a second run gives the same bits.
            cuda::linear_bwd_weight(nullptr, db_dev.data(), dy_dev.data(), x_dev.data(), s,
                                    GradMode::kOverwrite, test_stream());
            CHECK(fetch(db_dev) == db_first);
        }
    }

    TEST_CASE(
        "matmul cuda: C, dA and dB match cpu, modes chosen per output, null outputs skipped") {
        for (const MatmulShape& s : matmul_shapes()) {
            CAPTURE(s);
            const std::vector<float> a = uniform(elems(s.m, s.k), 8),
                                     b = uniform(elems(s.k, s.n), 9);
            const std::vector<float> dc = uniform(elems(s.m, s.n), 10);
            std::vector<float> c(size_t(elems(s.m, s.n))), da(size_t(elems(s.m, s.k))),
                db(size_t(elems(s.k, s.n)));
            cpu::matmul_fwd(c.data(), a.data(), b.data(), s);
            cpu::matmul_bwd(da.data(), db.data(), dc.data(), a.data(), b.data(), s,
                            GradMode::kOverwrite, GradMode::kOverwrite);
            const std::vector<float> da0 = uniform(elems(s.m, s.k), 11);
            const std::vector<float> db0 = uniform(elems(s.k, s.n), 12);
            const DeviceVec a_dev(a), b_dev(b), dc_dev(dc);

            const DeviceVec c_dev = DeviceVec::poisoned(elems(s.m, s.n));
            cuda::matmul_fwd(c_dev.data(), a_dev.data(), b_dev.data(), s, test_stream());
            check_close(fetch(c_dev), c, tol_for_sum(s.k), tol_for_sum(s.k), "C");

            // dA overwritten while dB accumulates, then the other way round.
            const DeviceVec da_dev = DeviceVec::poisoned(elems(s.m, s.k)), db_acc(db0);
            cuda::matmul_bwd(da_dev.data(), db_acc.data(), dc_dev.data(), a_dev.data(),
                             b_dev.data(), s, GradMode::kOverwrite, GradMode::kAccumulate,
                             test_stream());
            check_close(fetch(da_dev), da, tol_for_sum(s.n), tol_for_sum(s.n), "dA overwrite");
            check_close(fetch(db_acc), plus(db0, db), tol_for_sum(s.m), tol_for_sum(s.m),
                        "dB accumulate");
            const DeviceVec da_acc(da0), db_dev = DeviceVec::poisoned(elems(s.k, s.n));
            cuda::matmul_bwd(da_acc.data(), nullptr, dc_dev.data(), a_dev.data(), b_dev.data(), s,
                             GradMode::kAccumulate, GradMode::kOverwrite, test_stream());
            cuda::matmul_bwd(nullptr, db_dev.data(), dc_dev.data(), a_dev.data(), b_dev.data(), s,
                             GradMode::kAccumulate, GradMode::kOverwrite, test_stream());
            check_close(fetch(da_acc), plus(da0, da), tol_for_sum(s.n), tol_for_sum(s.n),
                        "dA accumulate");
            check_close(fetch(db_dev), db, tol_for_sum(s.m), tol_for_sum(s.m), "dB overwrite");
        }
    }

    TEST_CASE(
        "linear and matmul cuda: a zero-length sum gives zeros (or the bias), empty outputs "
        "write nothing") {
        // rows == 0: no y or dx, but dW and db are sums over no rows, so overwrite zeroes them.
        const LinearShape no_rows{0, 5, 7};
        const std::vector<float> sevens(35, 7.f);
        const DeviceVec dw_dev(sevens), db_dev(std::vector<float>(7, 7.f)), dw_acc(sevens);
        cuda::linear_fwd(nullptr, nullptr, nullptr, nullptr, no_rows, test_stream());
        cuda::linear_bwd_data(nullptr, nullptr, nullptr, no_rows, GradMode::kOverwrite,
                              test_stream());
        cuda::linear_bwd_weight(dw_dev.data(), db_dev.data(), nullptr, nullptr, no_rows,
                                GradMode::kOverwrite, test_stream());
        cuda::linear_bwd_weight(dw_acc.data(), nullptr, nullptr, nullptr, no_rows,
                                GradMode::kAccumulate, test_stream());
        CHECK(fetch(dw_dev) == std::vector<float>(35, 0.f));
        CHECK(fetch(db_dev) == std::vector<float>(7, 0.f));
        CHECK(fetch(dw_acc) == sevens);

        // in == 0: y is the bias alone.
        const LinearShape no_in{3, 0, 4};
        const std::vector<float> b = {1, 2, 3, 4};
        const DeviceVec b_dev(b), y_dev = DeviceVec::poisoned(12);
        const DeviceVec x_dummy = DeviceVec::poisoned(1), w_dummy = DeviceVec::poisoned(1);
        cuda::linear_fwd(y_dev.data(), x_dummy.data(), w_dummy.data(), b_dev.data(), no_in,
                         test_stream());
        CHECK(fetch(y_dev) == std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4});

        // k == 0: C = A B is an all-zero m x n matrix.
        const MatmulShape no_k{2, 0, 3};
        const DeviceVec c_dev = DeviceVec::poisoned(6);
        cuda::matmul_fwd(c_dev.data(), x_dummy.data(), w_dummy.data(), no_k, test_stream());
        CHECK(fetch(c_dev) == std::vector<float>(6, 0.f));

        CHECK_THROWS_AS(cuda::linear_fwd(nullptr, nullptr, nullptr, nullptr, LinearShape{-1, 2, 3},
                                         test_stream()),
                        Error);
        CHECK_THROWS_AS(
            cuda::matmul_fwd(nullptr, nullptr, nullptr, MatmulShape{2, -1, 3}, test_stream()),
            Error);
    }

    TEST_CASE("matmul cuda: set_tf32 switches tensor-core math on and back off") {
        // TF32 keeps 10 mantissa bits of each input, so a product is good to about 2^-10 relative
        // and a K-term sum to about 2^-10 sqrt(K) (1 + |ref|): the looser bound used while it is
        // on.
        const MatmulShape s{64, 600, 600};
        CAPTURE(s);
        const std::vector<float> a = uniform(elems(s.m, s.k), 8), b = uniform(elems(s.k, s.n), 9);
        std::vector<float> want(size_t(elems(s.m, s.n)));
        cpu::matmul_fwd(want.data(), a.data(), b.data(), s);
        const DeviceVec a_dev(a), b_dev(b), c_dev = DeviceVec::poisoned(elems(s.m, s.n));
        CHECK_FALSE(cuda::tf32_enabled());
        {
            const Tf32Scope tf32(true);
            CHECK(cuda::tf32_enabled());
            cuda::matmul_fwd(c_dev.data(), a_dev.data(), b_dev.data(), s, test_stream());
            const double t = std::ldexp(1.0, -10) * std::sqrt(double(s.k));
            check_close(fetch(c_dev), want, t, t, "C with TF32");
        }
        CHECK_FALSE(cuda::tf32_enabled());
        cuda::matmul_fwd(c_dev.data(), a_dev.data(), b_dev.data(), s, test_stream());
        check_close(fetch(c_dev), want, tol_for_sum(s.k), tol_for_sum(s.k), "C back in FP32");
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
