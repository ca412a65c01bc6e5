// CPU reference for batch normalization (kernels/batchnorm.h), PyTorch BatchNorm semantics.
// One channel at a time over its n*hw values (x viewed as (n, c, hw)). Training takes the mean in
// a first pass and the biased variance of (x - mean) in a second, both in double: the one-pass
// E[x^2] - E[x]^2 cancels when |mean| >> std (in float, a channel at 1e4 with spread 0.1 keeps no
// correct digit). The running variance gets the unbiased variance, m/(m-1) times the biased one,
// as torch does; the normalisation uses the biased one.
// Backward (training) needs two per-channel sums, sum(dy) and sum(dy * xhat), then
//   dx = gamma * invstd * (dy - sum(dy)/m - xhat * sum(dy*xhat)/m),   m = n*hw,
// which is the header's formula with g = dy * gamma (gamma is constant across the channel).
// A null gamma/beta is affine=False: gamma = 1, beta = 0.
#include "kernels/batchnorm.h"

#include <cmath>
#include <vector>

#include "kernels/check.h"
#include "kernels/cpu/parallel.h"
#include "kernels/elementwise.h"

namespace cudarts {

void BatchNormShape::validate() const {
    CUDARTS_CHECK(n >= 0, "BatchNormShape: n must be >= 0 in " << *this);
    CUDARTS_CHECK(c >= 0, "BatchNormShape: c must be >= 0 in " << *this);
    CUDARTS_CHECK(hw >= 1, "BatchNormShape: hw must be >= 1 in " << *this);
}

void BatchNormShape::validate_eval(float eps) const {
    validate();
    CUDARTS_CHECK(eps >= 0.f, "batch_norm: eps must be >= 0, got " << eps);
}

bool BatchNormShape::validate_train(float momentum, float eps) const {
    validate_eval(eps);
    CUDARTS_CHECK(momentum >= 0.f && momentum <= 1.f,
                  "batch_norm_fwd_train: momentum must be in [0, 1], got " << momentum);
    if (c == 0) return false;
    // torch: "Expected more than 1 value per channel when training".
    CUDARTS_CHECK(per_channel() >= 2,
                  "batch_norm_fwd_train: n*hw must be >= 2 in training in " << *this);
    return true;
}

std::ostream& operator<<(std::ostream& os, const BatchNormShape& s) {
    return os << "BatchNormShape{n=" << s.n << " c=" << s.c << " hw=" << s.hw << "}";
}

namespace cpu {
namespace {

// x[i, ch, j] for i in [0, n), j in [0, hw): the values of one channel.
int64_t at(const BatchNormShape& s, int i, int ch, int j) {
    return (int64_t(i) * s.c + ch) * s.hw + j;
}

}  // namespace

void batch_norm_fwd_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                          float* running_var, const float* x, const float* gamma, const float* beta,
                          const BatchNormShape& s, float momentum, float eps) {
    if (!s.validate_train(momentum, eps)) return;
    const double m = double(s.per_channel());
    CUDARTS_PARALLEL_FOR(s.elems())
    for (int ch = 0; ch < s.c; ++ch) {
        double sum = 0;
        for (int i = 0; i < s.n; ++i)
            for (int j = 0; j < s.hw; ++j) sum += x[at(s, i, ch, j)];
        const double mean = sum / m;
        double sq = 0;
        for (int i = 0; i < s.n; ++i) {
            for (int j = 0; j < s.hw; ++j) {
                const double d = x[at(s, i, ch, j)] - mean;
                sq += d * d;
            }
        }
        const double var = sq / m;
        const double invstd = 1.0 / std::sqrt(var + eps);
        const double g = gamma ? gamma[ch] : 1.0;
        const double b = beta ? beta[ch] : 0.0;
        for (int i = 0; i < s.n; ++i) {
            for (int j = 0; j < s.hw; ++j) {
                const int64_t k = at(s, i, ch, j);
                y[k] = float((x[k] - mean) * invstd * g + b);
            }
        }
        save_mean[ch] = float(mean);
        save_invstd[ch] = float(invstd);
        if (running_mean)
            running_mean[ch] = float((1.0 - momentum) * running_mean[ch] + momentum * mean);
        if (running_var)
            running_var[ch] = float((1.0 - momentum) * running_var[ch] + momentum * sq / (m - 1));
    }
}

void batch_norm_fwd_eval(float* y, const float* x, const float* gamma, const float* beta,
                         const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps) {
    s.validate_eval(eps);
    CUDARTS_PARALLEL_FOR(s.elems())
    for (int ch = 0; ch < s.c; ++ch) {
        const double invstd = 1.0 / std::sqrt(double(running_var[ch]) + eps);
        const double g = gamma ? gamma[ch] : 1.0;
        const double b = beta ? beta[ch] : 0.0;
        for (int i = 0; i < s.n; ++i) {
            for (int j = 0; j < s.hw; ++j) {
                const int64_t k = at(s, i, ch, j);
                y[k] = float((x[k] - running_mean[ch]) * invstd * g + b);
            }
        }
    }
}

void batch_norm_bwd_train(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                          const float* gamma, const float* save_mean, const float* save_invstd,
                          const BatchNormShape& s, GradMode mode) {
    s.validate();
    if (s.c == 0) return;
    CUDARTS_CHECK(s.per_channel() >= 2,
                  "batch_norm_bwd_train: n*hw must be >= 2 in training in " << s);
    const double m = double(s.per_channel());
    CUDARTS_PARALLEL_FOR(s.elems())
    for (int ch = 0; ch < s.c; ++ch) {
        const double mean = save_mean[ch], invstd = save_invstd[ch];
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int i = 0; i < s.n; ++i) {
            for (int j = 0; j < s.hw; ++j) {
                const int64_t k = at(s, i, ch, j);
                sum_dy += dy[k];
                sum_dy_xhat += dy[k] * (x[k] - mean) * invstd;
            }
        }
        if (dgamma) write_grad(dgamma[ch], float(sum_dy_xhat), mode);
        if (dbeta) write_grad(dbeta[ch], float(sum_dy), mode);
        if (!dx) continue;
        const double scale = (gamma ? gamma[ch] : 1.0) * invstd;
        for (int i = 0; i < s.n; ++i) {
            for (int j = 0; j < s.hw; ++j) {
                const int64_t k = at(s, i, ch, j);
                const double xhat = (x[k] - mean) * invstd;
                write_grad(dx[k], float(scale * (dy[k] - sum_dy / m - xhat * sum_dy_xhat / m)),
                           mode);
            }
        }
    }
}

void batch_norm_bwd_eval(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, const float* running_mean, const float* running_var,
                         const BatchNormShape& s, float eps, GradMode mode) {
    s.validate_eval(eps);
    CUDARTS_PARALLEL_FOR(s.elems())
    for (int ch = 0; ch < s.c; ++ch) {
        const double invstd = 1.0 / std::sqrt(double(running_var[ch]) + eps);
        const double scale = (gamma ? gamma[ch] : 1.0) * invstd;
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int i = 0; i < s.n; ++i) {
            for (int j = 0; j < s.hw; ++j) {
                const int64_t k = at(s, i, ch, j);
                sum_dy += dy[k];
                sum_dy_xhat += dy[k] * (x[k] - running_mean[ch]) * invstd;
                if (dx) write_grad(dx[k], float(scale * dy[k]), mode);
            }
        }
        if (dgamma) write_grad(dgamma[ch], float(sum_dy_xhat), mode);
        if (dbeta) write_grad(dbeta[ch], float(sum_dy), mode);
    }
}

void batch_norm_group_fwd_train(std::span<const BatchNormTrainItem> items, const BatchNormShape& s,
                                float momentum, float eps) {
    for (const BatchNormTrainItem& it : items) {
        batch_norm_fwd_train(it.y, it.save_mean, it.save_invstd, it.running_mean, it.running_var,
                             it.x, it.gamma, it.beta, s, momentum, eps);
        if (it.relu) relu_fwd(it.y, it.y, s.elems());
    }
}

void batch_norm_group_bwd_train(std::span<const BatchNormGradItem> items, const BatchNormShape& s) {
    std::vector<float> masked;
    for (const BatchNormGradItem& it : items) {
        const float* dy = it.dy;
        if (it.relu_y) {  // the fused ReLU's backward first
            masked.resize(size_t(s.elems()));
            relu_bwd(masked.data(), it.dy, it.relu_y, s.elems(), GradMode::kOverwrite);
            dy = masked.data();
        }
        batch_norm_bwd_train(it.dx, it.dgamma, it.dbeta, dy, it.x, it.gamma, it.save_mean,
                             it.save_invstd, s, it.mode);
    }
}

}  // namespace cpu
}  // namespace cudarts
