// grad_check: analytic gradients from one backward, numeric ones from central differences that
// perturb the inputs' data in place (and restore each element exactly afterwards).
#include "autograd/grad_check.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kernels/check.h"

namespace cudarts {

GradCheckResult grad_check(const std::function<Var()>& loss, const std::vector<Var>& inputs,
                           const GradCheckOptions& opt) {
    for (const Var& x : inputs)
        CUDARTS_CHECK(x.is_leaf() && x.requires_grad() && x.device().is_cpu(),
                      "grad_check: inputs must be CPU leaves that require a gradient");
    clear_tape();
    backward(loss(), inputs);
    GradCheckResult r;
    std::ostringstream os;
    int reported = 0;
    NoGradGuard no_grad;
    for (size_t k = 0; k < inputs.size(); ++k) {
        const Var& x = inputs[k];
        const std::vector<float> analytic = x.grad().to_vector();
        float* data = x.data();
        std::vector<double> numeric(analytic.size());
        double scale = 1.0;
        for (size_t i = 0; i < analytic.size(); ++i) {
            const float orig = data[i];
            const float up = float(orig + opt.eps), down = float(orig - opt.eps);
            data[i] = up;
            const double fp = loss().value().item();
            data[i] = down;
            const double fm = loss().value().item();
            data[i] = orig;
            numeric[i] = (fp - fm) / (double(up) - double(down));
            scale = std::max(scale, std::fabs(numeric[i]));
        }
        for (size_t i = 0; i < analytic.size(); ++i) {
            const double err = std::fabs(double(analytic[i]) - numeric[i]);
            const bool bad = !(err <= opt.atol * scale + opt.rtol * std::fabs(numeric[i]));
            r.max_abs_err = std::max(r.max_abs_err, err);
            ++r.checked;
            if (bad) {
                r.ok = false;
                if (reported++ < 8)
                    os << "input " << k << " ('" << x.name() << "') [" << i << "]: analytic "
                       << analytic[i] << ", numeric " << numeric[i] << "\n";
            }
        }
    }
    r.report = os.str();
    return r;
}

}  // namespace cudarts
