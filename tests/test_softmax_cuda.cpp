// CUDA softmax family and classification losses against the CPU reference (kernels/softmax.h).
// Shapes cover rows shorter and longer than a block, more rows than the loss block has warps and
// threads, and DARTS' own matrices (CIFAR logits at N = 64, the (14, 8) alphas, ImageNet logits).
// Outputs start as NaN, accumulate mode starts from non-zero values and the guard zones catch
// overruns. Losses are device scalars: the mean must match the CPU's double sum to
// tol_for_sum(rows * cols), an integer-valued case exactly, and count_correct exactly, ties
// included. Out-of-range labels must poison the result (NaN, or a count of -1), not be read.
// Runs only with a GPU (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <vector>

#include "engine/memory.h"
#include "kernels/check.h"
#include "kernels/softmax.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

struct MatrixCase {
    const char* name;
    int rows, cols;
    int64_t elems() const { return int64_t(rows) * cols; }
};
std::ostream& operator<<(std::ostream& os, const MatrixCase& c) {
    return os << "MatrixCase{" << c.name << " rows=" << c.rows << " cols=" << c.cols << "}";
}

// Shapes shared with the benchmark. The row kernels use 128 threads per row and the loss kernels
// one block of 32 warps / 1024 threads, so rows of 1 and of 1031 columns and 2100 rows reach every
// loop's tail.
std::vector<MatrixCase> softmax_shapes() {
    return {
        {"one element", 1, 1},
        {"odd 3x5", 3, 5},
        {"17x34", 17, 34},
        {"rows longer than a block 5x1031", 5, 1031},
        {"more rows than loss threads 2100x3", 2100, 3},
        {"wide rows 6x10000", 6, 10000},
        {"DARTS CIFAR logits N=64", 64, 10},
        {"DARTS alphas 14x8", 14, 8},
        {"DARTS ImageNet logits 96x1000", 96, 1000},
    };
}

int32_t read_int(const DeviceInts& v) {
    int32_t x = 0;
    copy_bytes(&x, Device::cpu(), v.data(), Device::cuda(), sizeof(x));
    return x;
}

// count_correct of logits against labels (c's shape, top-k) on both devices: CUDA must count what
// the CPU counts. Returns the CPU's count.
int64_t check_count_correct_match(const std::vector<float>& logits,
                                  const std::vector<int32_t>& labels, const MatrixCase& c,
                                  int topk) {
    const int64_t want = cpu::count_correct(logits.data(), labels.data(), c.rows, c.cols, topk);
    DeviceVec logits_dev(logits);
    DeviceInts labels_dev(labels), correct_dev({-7});
    cuda::count_correct(correct_dev.data(), logits_dev.data(), labels_dev.data(), c.rows, c.cols,
                        topk, test_stream());
    CHECK(read_int(correct_dev) == want);
    return want;
}

std::vector<float> start_for(GradMode mode, int64_t n, uint64_t seed) {
    return mode == kOverwrite ? std::vector<float>(size_t(n), NAN) : uniform(n, seed);
}

using RowFwd = void (*)(float*, const float*, int, int);
using RowFwdCuda = void (*)(float*, const float*, int, int, Stream);
using RowBwd = void (*)(float*, const float*, const float*, int, int, GradMode);
using RowBwdCuda = void (*)(float*, const float*, const float*, int, int, GradMode, Stream);

struct RowOp {
    const char* name;
    RowFwd cpu_fwd;
    RowFwdCuda cuda_fwd;
    RowBwd cpu_bwd;
    RowBwdCuda cuda_bwd;
};

const RowOp kRowOps[] = {
    {"softmax", cpu::softmax_fwd, cuda::softmax_fwd, cpu::softmax_bwd, cuda::softmax_bwd},
    {"log_softmax", cpu::log_softmax_fwd, cuda::log_softmax_fwd, cpu::log_softmax_bwd,
     cuda::log_softmax_bwd},
};

TEST_SUITE("cuda_softmax") {
    TEST_CASE("softmax and log_softmax fwd and bwd cuda: match cpu in both modes") {
        for (const MatrixCase& c : softmax_shapes()) {
            for (const RowOp& op : kRowOps) {
                CAPTURE(c);
                CAPTURE(op.name);
                const int64_t n = c.elems();
                // Each output sums cols terms (the row's normaliser or <dy, y>): tol_for_sum(cols).
                const double t = tol_for_sum(c.cols);
                const std::vector<float> x = uniform(n, 21);
                std::vector<float> y(static_cast<size_t>(n));
                op.cpu_fwd(y.data(), x.data(), c.rows, c.cols);
                DeviceVec x_dev(x), y_dev = DeviceVec::poisoned(n);
                op.cuda_fwd(y_dev.data(), x_dev.data(), c.rows, c.cols, test_stream());
                check_close(fetch(y_dev), y, t, t, "y");

                const std::vector<float> dy = uniform(n, 22);
                DeviceVec dy_dev(dy), ysaved_dev(y);  // the CPU's y, so only backward is compared
                for (GradMode mode : {kOverwrite, kAccumulate}) {
                    CAPTURE(int(mode));
                    std::vector<float> want = start_for(mode, n, 23);
                    DeviceVec dx_dev(want);
                    op.cpu_bwd(want.data(), dy.data(), y.data(), c.rows, c.cols, mode);
                    op.cuda_bwd(dx_dev.data(), dy_dev.data(), ysaved_dev.data(), c.rows, c.cols,
                                mode, test_stream());
                    const double tb = tol_for_sum(c.cols + (mode == kAccumulate ? 1 : 0));
                    check_close(fetch(dx_dev), want, tb, tb, "dx");
                }
            }
        }
    }

    TEST_CASE("nll_loss fwd and bwd cuda: the mean and its gradient match cpu") {
        for (const MatrixCase& c : softmax_shapes()) {
            CAPTURE(c);
            const int64_t n = c.elems();
            std::vector<float> logp(static_cast<size_t>(n));
            const std::vector<float> x = uniform(n, 24);
            cpu::log_softmax_fwd(logp.data(), x.data(), c.rows, c.cols);
            const std::vector<int32_t> labels = test::labels(c.rows, c.cols, 25);
            DeviceVec logp_dev(logp);
            DeviceInts labels_dev(labels);

            const float want = cpu::nll_loss_fwd(logp.data(), labels.data(), c.rows, c.cols);
            DeviceVec loss_dev = DeviceVec::poisoned(1);
            cuda::nll_loss_fwd(loss_dev.data(), logp_dev.data(), labels_dev.data(), c.rows, c.cols,
                               test_stream());
            check_close(fetch(loss_dev), std::vector<float>{want}, tol_for_sum(c.rows),
                        tol_for_sum(c.rows), "loss");

            const float dloss = 0.75f;
            DeviceVec dloss_dev({dloss});
            for (GradMode mode : {kOverwrite, kAccumulate}) {
                CAPTURE(int(mode));
                std::vector<float> want_d = start_for(mode, n, 26);
                DeviceVec d_dev(want_d);
                cpu::nll_loss_bwd(want_d.data(), dloss, labels.data(), c.rows, c.cols, mode);
                cuda::nll_loss_bwd(d_dev.data(), dloss_dev.data(), labels_dev.data(), c.rows,
                                   c.cols, mode, test_stream());
                check_close(fetch(d_dev), want_d, tol_for_sum(1), tol_for_sum(1), "dlogp");
            }
        }
    }

    TEST_CASE("nll_loss fwd cuda: integer log-probabilities over 4 rows give the exact mean") {
        // The sum of small integers is exact in any order and the division by 4 is exact.
        const int rows = 4, cols = 3;
        const std::vector<float> logp = {-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12};
        const std::vector<int32_t> labels = {2, 0, 1, 1};
        DeviceVec logp_dev(logp), loss_dev = DeviceVec::poisoned(1);
        DeviceInts labels_dev(labels);
        cuda::nll_loss_fwd(loss_dev.data(), logp_dev.data(), labels_dev.data(), rows, cols,
                           test_stream());
        CHECK(fetch(loss_dev)[0] == cpu::nll_loss_fwd(logp.data(), labels.data(), rows, cols));
        CHECK(fetch(loss_dev)[0] == (3.f + 4.f + 8.f + 11.f) / 4.f);
    }

    TEST_CASE(
        "cross_entropy fwd and bwd cuda: loss, logp and dlogits match cpu, smoothing 0 and 0.1") {
        for (const MatrixCase& c : softmax_shapes()) {
            for (float smoothing : {0.f, 0.1f}) {
                CAPTURE(c);
                CAPTURE(smoothing);
                const int64_t n = c.elems();
                const std::vector<float> logits = uniform(n, 27);
                const std::vector<int32_t> labels = test::labels(c.rows, c.cols, 28);
                std::vector<float> logp(static_cast<size_t>(n));
                const float want = cpu::cross_entropy_fwd(logp.data(), logits.data(), labels.data(),
                                                          c.rows, c.cols, smoothing);
                DeviceVec logits_dev(logits), logp_dev = DeviceVec::poisoned(n);
                DeviceVec loss_dev = DeviceVec::poisoned(1);
                DeviceInts labels_dev(labels);
                cuda::cross_entropy_fwd(loss_dev.data(), logp_dev.data(), logits_dev.data(),
                                        labels_dev.data(), c.rows, c.cols, smoothing,
                                        test_stream());
                // The loss sums rows * cols terms (every class of every row when smoothing).
                check_close(fetch(loss_dev), std::vector<float>{want}, tol_for_sum(n),
                            tol_for_sum(n), "loss");
                check_close(fetch(logp_dev), logp, tol_for_sum(c.cols), tol_for_sum(c.cols),
                            "logp");

                const float dloss = 1.5f;
                DeviceVec dloss_dev({dloss}), logp_saved_dev(logp);
                for (GradMode mode : {kOverwrite, kAccumulate}) {
                    CAPTURE(int(mode));
                    std::vector<float> want_d = start_for(mode, n, 29);
                    DeviceVec d_dev(want_d);
                    cpu::cross_entropy_bwd(want_d.data(), dloss, logp.data(), labels.data(), c.rows,
                                           c.cols, smoothing, mode);
                    cuda::cross_entropy_bwd(d_dev.data(), dloss_dev.data(), logp_saved_dev.data(),
                                            labels_dev.data(), c.rows, c.cols, smoothing, mode,
                                            test_stream());
                    // exp(logp) - t in float against double: a few roundings, as for two terms.
                    check_close(fetch(d_dev), want_d, tol_for_sum(2), tol_for_sum(2), "dlogits");
                }
            }
        }
    }

    TEST_CASE("count_correct cuda: top-1 and top-5 equal cpu, ties going to the lower index") {
        for (const MatrixCase& c : softmax_shapes()) {
            for (int topk : {1, 5}) {
                CAPTURE(c);
                CAPTURE(topk);
                // Logits on a grid of 7 values, so most rows have ties with the label's logit.
                std::vector<float> logits = uniform(c.elems(), 30);
                for (float& v : logits) v = std::round(3.f * v);
                check_count_correct_match(logits, test::labels(c.rows, c.cols, 31), c, topk);
            }
        }
    }

    TEST_CASE("count_correct cuda: rows holding NaN or inf are wrong, as on the cpu") {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        for (const MatrixCase& c : softmax_shapes()) {
            for (int topk : {1, 5}) {
                CAPTURE(c);
                CAPTURE(topk);
                std::vector<float> logits = uniform(c.elems(), 33);
                const std::vector<int32_t> labels = test::labels(c.rows, c.cols, 34);
                // Rows cycle through: untouched, NaN on the label, NaN on the last class, +inf on
                // the label, -inf on the first class, a whole row of NaN.
                int64_t finite_rows = 0;
                for (int r = 0; r < c.rows; ++r) {
                    float* xr = logits.data() + int64_t(r) * c.cols;
                    switch (r % 6) {
                        case 0:
                            ++finite_rows;
                            break;
                        case 1:
                            xr[labels[size_t(r)]] = nan;
                            break;
                        case 2:
                            xr[c.cols - 1] = nan;
                            break;
                        case 3:
                            xr[labels[size_t(r)]] = inf;
                            break;
                        case 4:
                            xr[0] = -inf;
                            break;
                        default:
                            for (int j = 0; j < c.cols; ++j) xr[j] = nan;
                    }
                }
                CHECK(check_count_correct_match(logits, labels, c, topk) <= finite_rows);
            }
        }
    }

    TEST_CASE("losses cuda: an empty batch writes 0, an out-of-range label poisons the result") {
        DeviceVec logp_dev(uniform(12, 32)), loss_dev = DeviceVec::poisoned(1);
        DeviceInts none({0}), correct_dev({-7});
        cuda::nll_loss_fwd(loss_dev.data(), logp_dev.data(), none.data(), 0, 4, test_stream());
        CHECK(fetch(loss_dev)[0] == 0.f);
        DeviceVec loss2_dev = DeviceVec::poisoned(1);
        cuda::cross_entropy_fwd(loss2_dev.data(), nullptr, nullptr, none.data(), 0, 4, 0.1f,
                                test_stream());
        CHECK(fetch(loss2_dev)[0] == 0.f);
        cuda::count_correct(correct_dev.data(), logp_dev.data(), none.data(), 0, 4, 1,
                            test_stream());
        CHECK(read_int(correct_dev) == 0);

        // 3 rows of 4 classes; row 1 carries label 4, one past the end.
        const std::vector<int32_t> bad = {0, 4, 2};
        DeviceInts bad_dev(bad);
        cuda::nll_loss_fwd(loss_dev.data(), logp_dev.data(), bad_dev.data(), 3, 4, test_stream());
        CHECK(std::isnan(fetch(loss_dev)[0]));
        DeviceVec lp_dev = DeviceVec::poisoned(12);
        cuda::cross_entropy_fwd(loss2_dev.data(), lp_dev.data(), logp_dev.data(), bad_dev.data(), 3,
                                4, 0.f, test_stream());
        CHECK(std::isnan(fetch(loss2_dev)[0]));
        cuda::count_correct(correct_dev.data(), logp_dev.data(), bad_dev.data(), 3, 4, 1,
                            test_stream());
        CHECK(read_int(correct_dev) == -1);
        DeviceVec dloss_dev({1.f}), d_dev = DeviceVec::poisoned(12);
        cuda::nll_loss_bwd(d_dev.data(), dloss_dev.data(), bad_dev.data(), 3, 4, kOverwrite,
                           test_stream());
        const std::vector<float> d = fetch(d_dev);
        for (int j = 0; j < 12; ++j) CHECK(std::isnan(d[size_t(j)]) == (j / 4 == 1));

        CHECK_THROWS_AS(cuda::softmax_fwd(nullptr, nullptr, 3, 0, test_stream()), Error);
        CHECK_THROWS_AS(cuda::cross_entropy_fwd(loss2_dev.data(), lp_dev.data(), logp_dev.data(),
                                                bad_dev.data(), 3, 4, 1.5f, test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::count_correct(correct_dev.data(), logp_dev.data(), bad_dev.data(), 3,
                                            4, 0, test_stream()),
                        Error);
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
