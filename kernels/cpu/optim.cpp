// Optimizer updates over flat parameter buffers, the reference for kernels/optim.h.
// SGD is torch.optim.SGD with dampening 0 and no Nesterov: weight decay is added to the
// gradient, the momentum buffer starts as that first direction (not as zero), and momentum 0
// uses no buffer at all (buf may then be null). Adam is torch.optim.Adam as of PyTorch 0.3.1,
// which DARTS' architect uses for the alphas: L2 weight decay coupled into the gradient, and the
// bias corrections folded into one step size lr sqrt(1 - b2^t) / (1 - b1^t), computed in double
// as Python does and applied as a float. Parameters update elementwise in float, like PyTorch's
// fp32 tensors; only sum_squares accumulates in double, since it sums millions of terms.
#include "kernels/optim.h"

#include <cmath>

#include "kernels/check.h"

namespace cudarts::cpu {

void sgd_step(float* w, float* buf, const float* g, int64_t n, const SgdOptions& o,
              bool first_step) {
    CUDARTS_CHECK(n >= 0, "sgd_step: n=" << n);
    CUDARTS_CHECK(o.momentum == 0.f || buf != nullptr,
                  "sgd_step: momentum=" << o.momentum << " needs a momentum buffer");
    for (int64_t i = 0; i < n; ++i) {
        const float d = g[i] + o.weight_decay * w[i];
        if (o.momentum == 0.f) {
            w[i] -= o.lr * d;
        } else {
            buf[i] = first_step ? d : o.momentum * buf[i] + d;
            w[i] -= o.lr * buf[i];
        }
    }
}

void adam_step(float* theta, float* m, float* v, const float* g, int64_t n, const AdamOptions& o,
               int64_t t) {
    CUDARTS_CHECK(n >= 0, "adam_step: n=" << n);
    CUDARTS_CHECK(t >= 1, "adam_step: step t=" << t << ", expected t >= 1 (1 on the first step)");
    const double bias1 = 1.0 - std::pow(double(o.beta1), double(t));
    const double bias2 = 1.0 - std::pow(double(o.beta2), double(t));
    const float step_size = float(double(o.lr) * std::sqrt(bias2) / bias1);
    for (int64_t i = 0; i < n; ++i) {
        const float gi = g[i] + o.weight_decay * theta[i];
        m[i] = o.beta1 * m[i] + (1.f - o.beta1) * gi;
        v[i] = o.beta2 * v[i] + (1.f - o.beta2) * gi * gi;
        theta[i] -= step_size * (m[i] / (std::sqrt(v[i]) + o.eps));  // addcdiv's order
    }
}

double sum_squares(const float* x, int64_t n) {
    CUDARTS_CHECK(n >= 0, "sum_squares: n=" << n);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
    return s;
}

}  // namespace cudarts::cpu
