// CUDA batch normalization against the CPU reference (kernels/batchnorm.h): training statistics,
// running statistics, y in training and eval, and dx, dgamma, dbeta in training and eval, with and
// without affine parameters, with any gradient not wanted, in both GradModes, for every version
// of the reductions (cuda::batch_norm_versions) on each shape it supports. Shapes: odd ones
// (N=3, C=5, 7x7 and 17x34; C=6 31x23, split unevenly over a cluster), BatchNorm1d ones (hw = 1,
// down to two values per channel) and the DARTS shapes of bench/shapes.h (C=16 32x32, C=32 16x16,
// C=64 8x8). Outputs start as NaN,
// accumulation starts from non-zero values, and the guard zone of tests/cuda_util.h catches
// overruns. Tolerances: STYLE's tol_for_sum(m) for everything reduced over a channel's m = n*hw
// values. Where the result is then scaled by gamma*invstd (y in training, dx in training) the
// rounding of the mean (the GPU keeps it in float, the CPU in double) or of dy's terms is scaled
// with it, so those compare with tol_for_sum(m) times amplification() below: about 1.7 for uniform
// [-1, 1] data, up to 1/sqrt(eps) = 316 for a channel whose few values nearly coincide, and
// x's magnitude times that for the channel at mean 100. Eval's elementwise outputs round about
// four times (subtraction, sqrt, division, products): tol_for_sum(4).
// Runs only with a GPU (tests/main.cpp skips the cuda* suites otherwise).
#if CUDARTS_HAS_CUDA

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "kernels/batchnorm.h"
#include "kernels/check.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

constexpr int64_t kEvalTerms = 4;  // roundings per elementwise eval output (see the note above)

// How much BN scales a float rounding of x-sized values: per channel |gamma| * invstd *
// max(1, max|x|), at least 1 (gamma empty means affine=False, gamma = 1).
double amplification(const std::vector<float>& x, const std::vector<float>& gamma,
                     const std::vector<float>& invstd, const BatchNormShape& s) {
    std::vector<double> max_abs(size_t(s.c), 1.0);
    for (int64_t k = 0; k < s.elems(); ++k) {
        double& m = max_abs[size_t((k / s.hw) % s.c)];
        m = std::max(m, double(std::fabs(x[size_t(k)])));
    }
    double amp = 1.0;
    for (int ch = 0; ch < s.c; ++ch) {
        const double g = gamma.empty() ? 1.0 : std::fabs(gamma[size_t(ch)]);
        amp = std::max(amp, g * invstd[size_t(ch)] * max_abs[size_t(ch)]);
    }
    return amp;
}

// One fwd_train on both devices (version v on the GPU); compares every output. gamma/beta empty:
// affine=False; track false: running statistics passed as null (and left alone).
void check_fwd_train(const cuda::BatchNormVersion& v, const BatchNormShape& s,
                     const std::vector<float>& x, const std::vector<float>& gamma,
                     const std::vector<float>& beta, bool track) {
    const auto c = size_t(s.c);
    const std::vector<float> rm0 = uniform(s.c, 44), rv0 = uniform(s.c, 45, 0.5f, 1.5f);
    std::vector<float> y(x.size()), mean(c), invstd(c), rm = rm0, rv = rv0;
    const float* g = gamma.empty() ? nullptr : gamma.data();
    const float* b = beta.empty() ? nullptr : beta.data();
    cpu::batch_norm_fwd_train(y.data(), mean.data(), invstd.data(), track ? rm.data() : nullptr,
                              track ? rv.data() : nullptr, x.data(), g, b, s, kBnMomentum, kBnEps);

    DeviceVec x_dev(x), y_dev = DeviceVec::poisoned(s.elems());
    DeviceVec mean_dev = DeviceVec::poisoned(s.c), invstd_dev = DeviceVec::poisoned(s.c);
    DeviceVec rm_dev(rm0), rv_dev(rv0);
    DeviceVec g_dev(gamma.empty() ? std::vector<float>(c) : gamma);
    DeviceVec b_dev(beta.empty() ? std::vector<float>(c) : beta);
    v.fwd_train(y_dev.data(), mean_dev.data(), invstd_dev.data(), track ? rm_dev.data() : nullptr,
                track ? rv_dev.data() : nullptr, x_dev.data(), g ? g_dev.data() : nullptr,
                b ? b_dev.data() : nullptr, s, kBnMomentum, kBnEps, test_stream());

    const double tol = tol_for_sum(s.per_channel());
    check_close(fetch(mean_dev), mean, tol, tol, "save_mean");
    check_close(fetch(invstd_dev), invstd, tol, tol, "save_invstd");
    check_close(fetch(rm_dev), rm, tol, tol, "running_mean");
    check_close(fetch(rv_dev), rv, tol, tol, "running_var");
    const double tol_y = tol * amplification(x, gamma, invstd, s);
    check_close(fetch(y_dev), y, tol_y, tol_y, "y");
}

using BnBackward = std::function<void(float* dx, float* dgamma, float* dbeta, GradMode mode)>;

// A backward on both devices in both modes, passing null for what is not wanted: overwrite into
// NaN on the GPU, accumulate onto the same non-zero start on both. dx compares with
// tol_for_sum(k_dx) * amp_dx, dgamma and dbeta with tol_for_sum(k_params), one more term when
// accumulating.
void check_bwd(const BatchNormShape& s, bool want_dx, bool want_params, const BnBackward& cpu_bwd,
               const BnBackward& cuda_bwd, int64_t k_dx, double amp_dx, int64_t k_params) {
    for (const GradMode mode : {GradMode::kOverwrite, GradMode::kAccumulate}) {
        const bool acc = mode == GradMode::kAccumulate;
        CAPTURE(acc);
        const auto start = [&](int64_t n, uint64_t seed) {
            return acc ? uniform(n, seed) : std::vector<float>(size_t(n), 0.f);
        };
        const auto device = [&](const std::vector<float>& v) {
            return acc ? DeviceVec(v) : DeviceVec::poisoned(int64_t(v.size()));
        };
        std::vector<float> dx = start(s.elems(), 51), dg = start(s.c, 52), db = start(s.c, 53);
        DeviceVec dx_dev = device(dx), dg_dev = device(dg), db_dev = device(db);
        cpu_bwd(want_dx ? dx.data() : nullptr, want_params ? dg.data() : nullptr,
                want_params ? db.data() : nullptr, mode);
        cuda_bwd(want_dx ? dx_dev.data() : nullptr, want_params ? dg_dev.data() : nullptr,
                 want_params ? db_dev.data() : nullptr, mode);
        const int64_t extra = acc ? 1 : 0;
        if (want_dx) {
            const double tol = tol_for_sum(k_dx + extra) * amp_dx;
            check_close(fetch(dx_dev), dx, tol, tol, "dx");
        }
        if (want_params) {
            const double tol = tol_for_sum(k_params + extra);
            check_close(fetch(dg_dev), dg, tol, tol, "dgamma");
            check_close(fetch(db_dev), db, tol, tol, "dbeta");
        }
    }
}

// Which gradients a case asks for, and whether gamma exists.
struct BwdCase {
    bool affine, want_dx, want_params;
};
std::ostream& operator<<(std::ostream& os, const BwdCase& c) {
    return os << "BwdCase{affine=" << c.affine << " want_dx=" << c.want_dx
              << " want_params=" << c.want_params << "}";
}

// Calls f(v, s, bc) for every shape, every version that supports it and every combination of
// affine and wanted gradients.
template <class F>
void for_each_bwd_case(F&& f) {
    const BwdCase cases[] = {
        {true, true, true}, {true, true, false}, {true, false, true}, {false, true, false}};
    for (const BatchNormShape& s : shapes::batch_norm(big_batch())) {
        CAPTURE(s);
        for_each_version(cuda::batch_norm_versions(), s, [&](const cuda::BatchNormVersion& v) {
            for (const BwdCase& bc : cases) {
                CAPTURE(bc);
                f(v, s, bc);
            }
        });
    }
}

TEST_SUITE("cuda_batchnorm") {
    TEST_CASE("batch_norm fwd_train: cuda statistics, running statistics and y match cpu") {
        for (const BatchNormShape& s : shapes::batch_norm(big_batch())) {
            CAPTURE(s);
            const std::vector<float> x = uniform(s.elems(), 41);
            const std::vector<float> gamma = uniform(s.c, 42), beta = uniform(s.c, 43);
            for_each_version(cuda::batch_norm_versions(), s, [&](const cuda::BatchNormVersion& v) {
                {
                    INFO("affine, tracking running statistics");
                    check_fwd_train(v, s, x, gamma, beta, true);
                }
                {
                    INFO("affine=False, no running statistics");
                    check_fwd_train(v, s, x, {}, {}, false);
                }
            });
        }
    }

    TEST_CASE(
        "batch_norm fwd_train: cuda keeps the variance of channels at mean 100 (two passes)") {
        // A one-pass E[x^2] - E[x]^2 in float loses about 1e4 * eps / (1/3) = 4e-3 of the variance
        // here; save_invstd must still match to tol_for_sum(m), unscaled.
        for (const BatchNormShape& s : {BatchNormShape{.n = 3, .c = 5, .hw = 49},
                                        BatchNormShape{.n = big_batch(), .c = 16, .hw = 1024}}) {
            CAPTURE(s);
            std::vector<float> x = uniform(s.elems(), 46);
            for (float& v : x) v += 100.f;
            for_each_version(cuda::batch_norm_versions(), s, [&](const cuda::BatchNormVersion& v) {
                check_fwd_train(v, s, x, uniform(s.c, 47), uniform(s.c, 48), true);
            });
        }
    }

    TEST_CASE("batch_norm fwd_eval: cuda matches cpu with and without affine parameters") {
        for (const BatchNormShape& s : shapes::batch_norm(big_batch())) {
            for (const bool affine : {true, false}) {
                CAPTURE(s);
                CAPTURE(affine);
                const std::vector<float> x = uniform(s.elems(), 61);
                const std::vector<float> gamma = uniform(s.c, 62), beta = uniform(s.c, 63);
                const std::vector<float> rm = uniform(s.c, 64);
                const std::vector<float> rv = uniform(s.c, 65, 0.5f, 1.5f);
                std::vector<float> y(x.size());
                cpu::batch_norm_fwd_eval(y.data(), x.data(), affine ? gamma.data() : nullptr,
                                         affine ? beta.data() : nullptr, rm.data(), rv.data(), s,
                                         kBnEps);
                DeviceVec x_dev(x), g_dev(gamma), b_dev(beta), rm_dev(rm), rv_dev(rv);
                DeviceVec y_dev = DeviceVec::poisoned(s.elems());
                cuda::batch_norm_fwd_eval(y_dev.data(), x_dev.data(),
                                          affine ? g_dev.data() : nullptr,
                                          affine ? b_dev.data() : nullptr, rm_dev.data(),
                                          rv_dev.data(), s, kBnEps, test_stream());
                const double tol = tol_for_sum(kEvalTerms);
                check_close(fetch(y_dev), y, tol, tol, "y");
            }
        }
    }

    TEST_CASE("batch_norm bwd_train: cuda dx, dgamma, dbeta match cpu, any of them unwanted") {
        for_each_bwd_case([](const cuda::BatchNormVersion& v, const BatchNormShape& s,
                             const BwdCase& bc) {
            const std::vector<float> x = uniform(s.elems(), 71);
            const std::vector<float> dy = uniform(s.elems(), 72);
            const std::vector<float> gamma = bc.affine ? uniform(s.c, 73) : std::vector<float>{};
            // The saved statistics come from the CPU forward, as the tape would hand them over.
            std::vector<float> y(x.size()), mean(size_t(s.c)), invstd(size_t(s.c));
            const float* g = bc.affine ? gamma.data() : nullptr;
            cpu::batch_norm_fwd_train(y.data(), mean.data(), invstd.data(), nullptr, nullptr,
                                      x.data(), g, nullptr, s, kBnMomentum, kBnEps);
            DeviceVec x_dev(x), dy_dev(dy), mean_dev(mean), invstd_dev(invstd);
            DeviceVec g_dev(bc.affine ? gamma : std::vector<float>(size_t(s.c)));
            check_bwd(
                s, bc.want_dx, bc.want_params,
                [&](float* dx, float* dg, float* db, GradMode m) {
                    cpu::batch_norm_bwd_train(dx, dg, db, dy.data(), x.data(), g, mean.data(),
                                              invstd.data(), s, m);
                },
                [&](float* dx, float* dg, float* db, GradMode m) {
                    v.bwd_train(dx, dg, db, dy_dev.data(), x_dev.data(), g ? g_dev.data() : nullptr,
                                mean_dev.data(), invstd_dev.data(), s, m, test_stream());
                },
                s.per_channel(), amplification(x, gamma, invstd, s), s.per_channel());
        });
    }

    TEST_CASE("batch_norm bwd_eval: cuda dx, dgamma, dbeta match cpu, any of them unwanted") {
        for_each_bwd_case([](const cuda::BatchNormVersion& v, const BatchNormShape& s,
                             const BwdCase& bc) {
            const std::vector<float> x = uniform(s.elems(), 81);
            const std::vector<float> dy = uniform(s.elems(), 82);
            const std::vector<float> gamma = uniform(s.c, 83);
            const std::vector<float> rm = uniform(s.c, 84);
            const std::vector<float> rv = uniform(s.c, 85, 0.5f, 1.5f);
            const float* g = bc.affine ? gamma.data() : nullptr;
            DeviceVec x_dev(x), dy_dev(dy), g_dev(gamma), rm_dev(rm), rv_dev(rv);
            check_bwd(
                s, bc.want_dx, bc.want_params,
                [&](float* dx, float* dg, float* db, GradMode m) {
                    cpu::batch_norm_bwd_eval(dx, dg, db, dy.data(), x.data(), g, rm.data(),
                                             rv.data(), s, kBnEps, m);
                },
                [&](float* dx, float* dg, float* db, GradMode m) {
                    v.bwd_eval(dx, dg, db, dy_dev.data(), x_dev.data(), g ? g_dev.data() : nullptr,
                               rm_dev.data(), rv_dev.data(), s, kBnEps, m, test_stream());
                },
                kEvalTerms, 1.0, s.per_channel());
        });
    }

    TEST_CASE("batch_norm cuda: the launchers run v2 from 2048 values per channel, v1 below") {
        const auto versions = cuda::batch_norm_versions();
        REQUIRE(versions.size() == 2);
        CHECK(std::string(versions[0].name) == "v1");
        CHECK(std::string(versions[1].name) == "v2");
        const BatchNormShape below{.n = 1, .c = 3, .hw = 2047}, at{.n = 1, .c = 3, .hw = 2048};
        CHECK(versions[0].supports(below));
        CHECK_FALSE(versions[1].supports(below));
        CHECK(versions[1].supports(at));
        DeviceVec x_dev(uniform(below.elems(), 95)), y_dev = DeviceVec::poisoned(below.elems());
        DeviceVec mean_dev = DeviceVec::poisoned(3), invstd_dev = DeviceVec::poisoned(3);
        CHECK_THROWS_AS(versions[1].fwd_train(y_dev.data(), mean_dev.data(), invstd_dev.data(),
                                              nullptr, nullptr, x_dev.data(), nullptr, nullptr,
                                              below, kBnMomentum, kBnEps, test_stream()),
                        Error);
        CHECK_THROWS_AS(
            versions[1].bwd_train(y_dev.data(), nullptr, nullptr, x_dev.data(), x_dev.data(),
                                  nullptr, mean_dev.data(), invstd_dev.data(), below,
                                  GradMode::kOverwrite, test_stream()),
            Error);
        // Every version is deterministic, so the launcher's statistics and dx are the bits of the
        // version it picks: the last that supports the shape.
        for (const BatchNormShape& s : {below, at, BatchNormShape{.n = 3, .c = 6, .hw = 31 * 23}}) {
            CAPTURE(s);
            const cuda::BatchNormVersion& pick = versions[versions[1].supports(s) ? 1 : 0];
            const std::vector<float> x = uniform(s.elems(), 96), dy = uniform(s.elems(), 97);
            DeviceVec xs(x), dys(dy);
            const auto run = [&](const auto& fwd, const auto& bwd) {
                DeviceVec y = DeviceVec::poisoned(s.elems()), dx = DeviceVec::poisoned(s.elems());
                DeviceVec mean = DeviceVec::poisoned(s.c), invstd = DeviceVec::poisoned(s.c);
                fwd(y.data(), mean.data(), invstd.data(), nullptr, nullptr, xs.data(), nullptr,
                    nullptr, s, kBnMomentum, kBnEps, test_stream());
                bwd(dx.data(), nullptr, nullptr, dys.data(), xs.data(), nullptr, mean.data(),
                    invstd.data(), s, GradMode::kOverwrite, test_stream());
                std::vector<float> out = fetch(mean);
                for (const DeviceVec* d : {&invstd, &y, &dx})
                    for (const float f : fetch(*d)) out.push_back(f);
                return out;
            };
            const std::vector<float> launched =
                run(cuda::batch_norm_fwd_train, cuda::batch_norm_bwd_train);
            check_close(launched, run(pick.fwd_train, pick.bwd_train), 0, 0,
                        "launcher vs its version");
        }
    }

    TEST_CASE("batch_norm cuda: empty and degenerate shapes behave as on cpu") {
        // No channels: nothing to do, nothing launched.
        const BatchNormShape none{.n = 4, .c = 0, .hw = 9};
        cuda::batch_norm_fwd_train(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                   nullptr, none, kBnMomentum, kBnEps, test_stream());
        cuda::batch_norm_bwd_train(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                   nullptr, none, GradMode::kOverwrite, test_stream());

        // One value per channel cannot be normalised in training; bad momentum or eps throw too.
        const BatchNormShape single{.n = 1, .c = 3, .hw = 1};
        DeviceVec v = DeviceVec::poisoned(3);
        CHECK_THROWS_AS(cuda::batch_norm_fwd_train(v.data(), v.data(), v.data(), nullptr, nullptr,
                                                   v.data(), nullptr, nullptr, single, kBnMomentum,
                                                   kBnEps, test_stream()),
                        Error);
        CHECK_THROWS_AS(cuda::batch_norm_bwd_train(v.data(), nullptr, nullptr, v.data(), v.data(),
                                                   nullptr, v.data(), v.data(), single,
                                                   GradMode::kOverwrite, test_stream()),
                        Error);
        const BatchNormShape pair{.n = 2, .c = 3, .hw = 1};
        CHECK_THROWS_AS(
            cuda::batch_norm_fwd_train(v.data(), v.data(), v.data(), nullptr, nullptr, v.data(),
                                       nullptr, nullptr, pair, 1.5f, kBnEps, test_stream()),
            Error);
        CHECK_THROWS_AS(cuda::batch_norm_fwd_eval(v.data(), v.data(), nullptr, nullptr, v.data(),
                                                  v.data(), pair, -1.f, test_stream()),
                        Error);
        for (float f : fetch(v)) CHECK(std::isnan(f));

        // An empty batch in eval: the parameter gradients are empty sums, so overwrite writes 0.
        const BatchNormShape empty{.n = 0, .c = 3, .hw = 5};
        DeviceVec rm_dev(uniform(3, 91)), rv_dev(uniform(3, 92, 0.5f, 1.5f));
        DeviceVec dg_dev = DeviceVec::poisoned(3), db_dev = DeviceVec::poisoned(3);
        cuda::batch_norm_bwd_eval(nullptr, dg_dev.data(), db_dev.data(), nullptr, nullptr, nullptr,
                                  rm_dev.data(), rv_dev.data(), empty, kBnEps, GradMode::kOverwrite,
                                  test_stream());
        check_close(fetch(dg_dev), std::vector<float>(3, 0.f), 0, 0, "dgamma of an empty batch");
        check_close(fetch(db_dev), std::vector<float>(3, 0.f), 0, 0, "dbeta of an empty batch");
    }

}  // TEST_SUITE

}  // namespace
}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
