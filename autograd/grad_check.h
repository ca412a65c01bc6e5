// Central-difference gradient check of a whole computation: compares backward's gradients of a
// scalar loss with (f(x + eps e_i) - f(x - eps e_i)) / 2 eps for every element of every input.
// The forward runs in float32, so the check uses a float-sized eps (1e-2 by default); the error
// of the difference quotient is O(eps^2) from truncation plus O(ulp(f) / eps) from rounding,
// which the default tolerances (|analytic - numeric| <= atol * scale + rtol * |numeric|, scale =
// max(1, max |numeric|)) cover for smooth ops. Kinks (ReLU at 0, max-pool ties) must be kept
// away from the inputs by the caller. CPU tensors only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/var.h"

namespace cudarts {

struct GradCheckOptions {
    double eps = 1e-2;
    double rtol = 1e-2;
    double atol = 1e-3;
};

struct GradCheckResult {
    bool ok = true;
    double max_abs_err = 0;  // over all checked elements
    int64_t checked = 0;     // elements compared
    std::string report;      // the first mismatches, one per line, naming input and index
};

// `loss` recomputes the scalar loss from `inputs` (leaf Vars that require a gradient); it is
// called once with grad mode on for the analytic gradients and twice per element without.
GradCheckResult grad_check(const std::function<Var()>& loss, const std::vector<Var>& inputs,
                           const GradCheckOptions& opt = {});

}  // namespace cudarts
