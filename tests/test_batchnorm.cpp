// Batch normalization CPU reference: training statistics of the output, torch's running-stat
// update on a hand case, eval mode on a hand case, a channel whose large mean would break a
// one-pass variance, and central-difference checks of dx, dgamma and dbeta (train affine, train
// non-affine, eval) in both GradModes on a 2-D and a 1-D shape.
#include <cmath>
#include <functional>
#include <sstream>

#include "kernels/batchnorm.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::test;

namespace {

const BatchNormShape kShapes[] = {{.n = 3, .c = 5, .hw = 7 * 7}, {.n = 4, .c = 3, .hw = 1}};

// x uniform in [-1, 1) plus a different offset per channel, so the mean matters.
std::vector<float> channel_input(const BatchNormShape& s, uint64_t seed) {
    std::vector<float> x = uniform(s.elems(), seed);
    for (int64_t i = 0; i < s.elems(); ++i) x[size_t(i)] += 0.5f * float((i / s.hw) % s.c) - 1.f;
    return x;
}

struct Stats {
    std::vector<float> mean, invstd;
};

std::vector<float> fwd_train(const std::vector<float>& x, const float* gamma, const float* beta,
                             const BatchNormShape& s, Stats* saved = nullptr) {
    std::vector<float> y(x.size()), mean(size_t(s.c)), invstd(size_t(s.c));
    cpu::batch_norm_fwd_train(y.data(), mean.data(), invstd.data(), nullptr, nullptr, x.data(),
                              gamma, beta, s, kBnMomentum, kBnEps);
    if (saved) *saved = {mean, invstd};
    return y;
}

struct Grads {
    std::vector<float> dx, dgamma, dbeta;
};

// Runs a backward in both GradModes through test::bwd_both_modes, its outputs side by side in one
// buffer (dx, then dgamma and dbeta): overwrite into NaN (every element must be written), then
// accumulate onto non-zero values (must add what overwrite wrote). With affine false, dgamma and
// dbeta are passed as null. Returns the overwritten gradients.
Grads bwd_both_modes(const BatchNormShape& s, bool affine,
                     const std::function<void(float*, float*, float*, GradMode)>& bwd) {
    const int64_t e = s.elems(), c = affine ? s.c : 0;
    const std::vector<float> all = test::bwd_both_modes(
        e + 2 * c,
        [&](float* d, GradMode m) {
            bwd(d, affine ? d + e : nullptr, affine ? d + e + c : nullptr, m);
        },
        "dx, dgamma, dbeta", 1e-5, 1e-6, 91);
    return {{all.begin(), all.begin() + e},
            {all.begin() + e, all.begin() + e + c},
            {all.begin() + e + c, all.end()}};
}

}  // namespace

TEST_SUITE("batchnorm") {
    TEST_CASE("batch_norm shape: prints itself; training needs two values per channel") {
        const BatchNormShape s{.n = 1, .c = 2, .hw = 1};
        std::ostringstream os;
        os << s;
        CHECK(os.str() == "BatchNormShape{n=1 c=2 hw=1}");
        std::vector<float> x = {1, 2}, y(2), stats(2);
        CHECK_THROWS_AS(
            cpu::batch_norm_fwd_train(y.data(), stats.data(), stats.data(), nullptr, nullptr,
                                      x.data(), nullptr, nullptr, s, kBnMomentum, kBnEps),
            Error);
        CHECK_THROWS_AS((BatchNormShape{.n = 2, .c = 2, .hw = 0}.validate()), Error);
    }

    TEST_CASE("batch_norm fwd_train: per-channel mean is beta and biased variance gamma^2") {
        for (const BatchNormShape& s : kShapes) {
            CAPTURE(s);
            const std::vector<float> x = channel_input(s, 1);
            const std::vector<float> gamma = away_from_zero(s.c, 2), beta = uniform(s.c, 3);
            Stats saved;
            const std::vector<float> y = fwd_train(x, gamma.data(), beta.data(), s, &saved);
            for (int ch = 0; ch < s.c; ++ch) {
                CAPTURE(ch);
                double xm = 0, ym = 0;
                for (int i = 0; i < s.n; ++i)
                    for (int j = 0; j < s.hw; ++j) {
                        xm += x[size_t((i * s.c + ch) * s.hw + j)];
                        ym += y[size_t((i * s.c + ch) * s.hw + j)];
                    }
                xm /= double(s.per_channel());
                ym /= double(s.per_channel());
                double xv = 0, yv = 0;
                for (int i = 0; i < s.n; ++i)
                    for (int j = 0; j < s.hw; ++j) {
                        xv += std::pow(x[size_t((i * s.c + ch) * s.hw + j)] - xm, 2);
                        yv += std::pow(y[size_t((i * s.c + ch) * s.hw + j)] - ym, 2);
                    }
                xv /= double(s.per_channel());
                yv /= double(s.per_channel());
                CHECK(ym == doctest::Approx(beta[size_t(ch)]).epsilon(1e-5));
                // eps shrinks the variance by var/(var + eps), which is visible at this precision
                CHECK(yv ==
                      doctest::Approx(gamma[size_t(ch)] * gamma[size_t(ch)] * xv / (xv + kBnEps))
                          .epsilon(1e-5));
                CHECK(saved.mean[size_t(ch)] == doctest::Approx(xm).epsilon(1e-6));
                CHECK(saved.invstd[size_t(ch)] ==
                      doctest::Approx(1 / std::sqrt(xv + kBnEps)).epsilon(1e-6));
            }
        }
    }

    TEST_CASE("batch_norm fwd_train: running stats follow torch's update on a hand case") {
        // one channel holding 1, 2, 3, 6: mean 3, biased variance 14/4, unbiased 14/3
        const BatchNormShape s{.n = 2, .c = 1, .hw = 2};
        CAPTURE(s);
        const std::vector<float> x = {1, 2, 3, 6};
        std::vector<float> y(4), mean(1), invstd(1), rm = {0.5f}, rv = {2.f};
        cpu::batch_norm_fwd_train(y.data(), mean.data(), invstd.data(), rm.data(), rv.data(),
                                  x.data(), nullptr, nullptr, s, 0.1f, kBnEps);
        CHECK(rm[0] == doctest::Approx(0.9 * 0.5 + 0.1 * 3).epsilon(1e-7));
        CHECK(rv[0] == doctest::Approx(0.9 * 2 + 0.1 * 14.0 / 3).epsilon(1e-7));
        CHECK(mean[0] == 3.f);
        const double invstd_want = 1 / std::sqrt(3.5 + double(kBnEps));
        CHECK(invstd[0] == doctest::Approx(invstd_want).epsilon(1e-7));
        check_close(y, std::vector<double>{-2 * invstd_want, -1 * invstd_want, 0, 3 * invstd_want},
                    1e-6, 1e-7, "y");
        // momentum 1 replaces the running stats by the batch ones
        cpu::batch_norm_fwd_train(y.data(), mean.data(), invstd.data(), rm.data(), rv.data(),
                                  x.data(), nullptr, nullptr, s, 1.f, kBnEps);
        CHECK(rm[0] == 3.f);
        CHECK(rv[0] == doctest::Approx(14.0 / 3).epsilon(1e-7));
    }

    TEST_CASE("batch_norm fwd_train: a channel at 1e4 with a small spread keeps its variance") {
        // channel 0 is 1e4 + {-0.5, -0.25, 0.25, 0.5} (exact in float): biased variance 0.15625. A
        // one-pass E[x^2] - E[x]^2 in float has an error of several units here.
        const BatchNormShape s{.n = 4, .c = 2, .hw = 3};
        CAPTURE(s);
        const float d[4] = {-0.5f, -0.25f, 0.25f, 0.5f};
        std::vector<float> x(size_t(s.elems()));
        for (int i = 0; i < s.n; ++i)
            for (int j = 0; j < s.hw; ++j) {
                x[size_t((i * s.c + 0) * s.hw + j)] = 1e4f + d[(i + j) % 4];
                x[size_t((i * s.c + 1) * s.hw + j)] = d[(i + 2 * j) % 4];
            }
        std::vector<float> y(x.size()), mean(2), invstd(2), rm = {0.f, 0.f}, rv = {1.f, 1.f};
        cpu::batch_norm_fwd_train(y.data(), mean.data(), invstd.data(), rm.data(), rv.data(),
                                  x.data(), nullptr, nullptr, s, kBnMomentum, kBnEps);
        const double var = 0.15625, invstd_want = 1 / std::sqrt(var + double(kBnEps));
        CHECK(mean[0] == 1e4f);
        CHECK(invstd[0] == doctest::Approx(invstd_want).epsilon(1e-6));
        CHECK(invstd[1] == doctest::Approx(invstd_want).epsilon(1e-6));
        CHECK(rv[0] == doctest::Approx(0.9 + 0.1 * var * 12 / 11).epsilon(1e-6));
        for (int i = 0; i < s.n; ++i)
            for (int j = 0; j < s.hw; ++j)
                CHECK(y[size_t((i * s.c) * s.hw + j)] ==
                      doctest::Approx(d[(i + j) % 4] * invstd_want).epsilon(1e-5));
    }

    TEST_CASE("batch_norm fwd_eval: normalises with the running statistics (hand case)") {
        const BatchNormShape s{.n = 2, .c = 2, .hw = 1};
        CAPTURE(s);
        const std::vector<float> x = {3, -1, 5,
                                      -2.5f};  // (sample, channel) = (0,0) (0,1) (1,0) (1,1)
        const std::vector<float> rm = {1, -2}, rv = {4, 0.25f}, gamma = {2, 1}, beta = {0.5f, 0};
        std::vector<float> y(4);
        cpu::batch_norm_fwd_eval(y.data(), x.data(), gamma.data(), beta.data(), rm.data(),
                                 rv.data(), s, 0.f);
        // (3-1)/2*2+0.5, (-1+2)/0.5, (5-1)/2*2+0.5, (-2.5+2)/0.5
        check_close(y, std::vector<float>{2.5f, 2, 4.5f, -1}, 1e-7, 0, "y affine");
        cpu::batch_norm_fwd_eval(y.data(), x.data(), nullptr, nullptr, rm.data(), rv.data(), s,
                                 0.f);
        check_close(y, std::vector<float>{1, 2, 2, -1}, 1e-7, 0, "y non-affine");
        cpu::batch_norm_fwd_eval(y.data(), x.data(), nullptr, nullptr, rm.data(), rv.data(), s,
                                 kBnEps);
        CHECK(y[0] == doctest::Approx(2 / std::sqrt(4 + double(kBnEps))).epsilon(1e-7));
    }

    TEST_CASE("batch_norm bwd_train: dx, dgamma, dbeta match central differences (affine)") {
        for (const BatchNormShape& s : kShapes) {
            CAPTURE(s);
            const std::vector<float> x = channel_input(s, 4), r = uniform(s.elems(), 5);
            const std::vector<float> gamma = away_from_zero(s.c, 6), beta = uniform(s.c, 7);
            Stats saved;
            fwd_train(x, gamma.data(), beta.data(), s, &saved);
            const Grads g =
                bwd_both_modes(s, true, [&](float* dx, float* dg, float* db, GradMode m) {
                    cpu::batch_norm_bwd_train(dx, dg, db, r.data(), x.data(), gamma.data(),
                                              saved.mean.data(), saved.invstd.data(), s, m);
                });
            const auto loss_x = [&](const std::vector<float>& v) {
                return dot(r, fwd_train(v, gamma.data(), beta.data(), s));
            };
            const auto loss_gamma = [&](const std::vector<float>& v) {
                return dot(r, fwd_train(x, v.data(), beta.data(), s));
            };
            const auto loss_beta = [&](const std::vector<float>& v) {
                return dot(r, fwd_train(x, gamma.data(), v.data(), s));
            };
            check_grad(g.dx, numeric_grad(loss_x, x), "dx");
            check_grad(g.dgamma, numeric_grad(loss_gamma, gamma), "dgamma");
            check_grad(g.dbeta, numeric_grad(loss_beta, beta), "dbeta");

            // each output alone (the others null) gives the same numbers
            std::vector<float> dx(x.size()), dgamma(size_t(s.c));
            cpu::batch_norm_bwd_train(dx.data(), nullptr, nullptr, r.data(), x.data(), gamma.data(),
                                      saved.mean.data(), saved.invstd.data(), s,
                                      GradMode::kOverwrite);
            cpu::batch_norm_bwd_train(nullptr, dgamma.data(), nullptr, r.data(), x.data(),
                                      gamma.data(), saved.mean.data(), saved.invstd.data(), s,
                                      GradMode::kOverwrite);
            check_close(dx, g.dx, 0, 0, "dx alone");
            check_close(dgamma, g.dgamma, 0, 0, "dgamma alone");
        }
    }

    TEST_CASE("batch_norm bwd_train: dx matches central differences without affine") {
        for (const BatchNormShape& s : kShapes) {
            CAPTURE(s);
            const std::vector<float> x = channel_input(s, 8), r = uniform(s.elems(), 9);
            Stats saved;
            fwd_train(x, nullptr, nullptr, s, &saved);
            const Grads g =
                bwd_both_modes(s, false, [&](float* dx, float* dg, float* db, GradMode m) {
                    cpu::batch_norm_bwd_train(dx, dg, db, r.data(), x.data(), nullptr,
                                              saved.mean.data(), saved.invstd.data(), s, m);
                });
            const auto loss = [&](const std::vector<float>& v) {
                return dot(r, fwd_train(v, nullptr, nullptr, s));
            };
            check_grad(g.dx, numeric_grad(loss, x), "dx");
        }
    }

    TEST_CASE("batch_norm bwd_eval: dx, dgamma, dbeta match central differences") {
        for (const BatchNormShape& s : kShapes) {
            CAPTURE(s);
            const std::vector<float> x = channel_input(s, 10), r = uniform(s.elems(), 11);
            const std::vector<float> gamma = away_from_zero(s.c, 12), beta = uniform(s.c, 13);
            const std::vector<float> rm = uniform(s.c, 14), rv = uniform(s.c, 15, 0.5f, 2.f);
            const auto fwd = [&](const std::vector<float>& xv, const float* g, const float* b) {
                std::vector<float> y(xv.size());
                cpu::batch_norm_fwd_eval(y.data(), xv.data(), g, b, rm.data(), rv.data(), s,
                                         kBnEps);
                return y;
            };
            for (const bool affine : {true, false}) {
                CAPTURE(affine);
                const float* gp = affine ? gamma.data() : nullptr;
                const float* bp = affine ? beta.data() : nullptr;
                const Grads g =
                    bwd_both_modes(s, affine, [&](float* dx, float* dg, float* db, GradMode m) {
                        cpu::batch_norm_bwd_eval(dx, dg, db, r.data(), x.data(), gp, rm.data(),
                                                 rv.data(), s, kBnEps, m);
                    });
                const auto loss_x = [&](const std::vector<float>& v) {
                    return dot(r, fwd(v, gp, bp));
                };
                check_grad(g.dx, numeric_grad(loss_x, x), "dx");
                if (!affine) continue;
                const auto loss_gamma = [&](const std::vector<float>& v) {
                    return dot(r, fwd(x, v.data(), bp));
                };
                const auto loss_beta = [&](const std::vector<float>& v) {
                    return dot(r, fwd(x, gp, v.data()));
                };
                check_grad(g.dgamma, numeric_grad(loss_gamma, gamma), "dgamma");
                check_grad(g.dbeta, numeric_grad(loss_beta, beta), "dbeta");
            }
        }
    }

}  // TEST_SUITE("batchnorm")
