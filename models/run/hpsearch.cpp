// The weighted random hyperparameter search; see models/run/hpsearch.h.
#include "models/run/hpsearch.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "engine/format.h"
#include "models/nn/setting.h"

namespace cudarts {

namespace {

double scaled(const HyperParameter& p, double x) { return p.log ? std::log(x) : x; }

// A loss as the search ranks it: non-finite (a diverged trial) is +inf.
double ranked(double loss) {
    return std::isfinite(loss) ? loss : std::numeric_limits<double>::infinity();
}

// Folds u back into [0, 1] at the nearer edge; r <= 0.5 keeps one fold enough, the clamp only
// guards the rounding.
double reflect(double u) {
    if (u < 0) u = -u;
    if (u > 1) u = 2 - u;
    return std::clamp(u, 0.0, 1.0);
}

// The probability of anchoring at the best point x1 (reference/katib.md 3.3, step 4).
double anchor_probability(double v1, double v2) {
    if (std::isinf(v1)) return 0.5;  // both diverged: nothing to prefer
    if (std::isinf(v2)) return 0.99;
    if (v1 + v2 == 0) return 0.5;
    return std::clamp(v2 / (v1 + v2), 0.01, 0.99);
}

}  // namespace

double HyperParameter::to_unit(double x) const {
    return (scaled(*this, x) - scaled(*this, lo)) / (scaled(*this, hi) - scaled(*this, lo));
}

double HyperParameter::from_unit(double u) const {
    const double s = scaled(*this, lo) + u * (scaled(*this, hi) - scaled(*this, lo));
    double x = log ? std::exp(s) : s;
    if (integer) {
        x = std::round(x);
    } else {  // 6 significant digits: the value printed and passed to a trial is the value kept
        x = std::strtod(format_number("%.6g", x).c_str(), nullptr);
    }
    return std::clamp(x, lo, hi);
}

void HyperParameter::validate() const {
    const std::string what = name.empty() ? std::string("a parameter") : name;
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
        throw SettingError(what, "expected min < max, both finite, got min " + short_number(lo) +
                                     " and max " + short_number(hi));
    if (log && lo <= 0)
        throw SettingError(what, "a log scale needs min > 0, got min " + short_number(lo));
    if (integer && (lo != std::floor(lo) || hi != std::floor(hi)))
        throw SettingError(what, "an integer parameter needs whole min and max, got " +
                                     short_number(lo) + " and " + short_number(hi));
}

WeightedRandomSearch::WeightedRandomSearch(std::vector<HyperParameter> box, uint64_t seed)
    : box_(std::move(box)), gen_(seed) {
    if (box_.empty()) throw SettingError("parameters", "expected at least one hyperparameter");
    std::set<std::string> names;
    for (const HyperParameter& p : box_) {
        p.validate();
        if (!names.insert(p.name).second)
            throw SettingError(p.name, "named twice in the parameters");
    }
}

double WeightedRandomSearch::uniform() { return static_cast<double>(gen_() >> 11) * 0x1p-53; }

std::pair<size_t, size_t> WeightedRandomSearch::two_best(const std::vector<HpEvaluation>& history) {
    std::vector<size_t> order(history.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return ranked(history[a].loss) < ranked(history[b].loss);
    });
    return {order.at(0), order.at(1)};
}

std::vector<double> WeightedRandomSearch::draw_near(const std::vector<double>& a,
                                                    const std::vector<double>& b) {
    std::vector<double> y(box_.size());
    for (size_t i = 0; i < box_.size(); ++i) {
        const double ua = box_[i].to_unit(a[i]), ub = box_[i].to_unit(b[i]);
        const double r = std::max(std::abs(ua - ub) / 2, 0.02);
        y[i] = box_[i].from_unit(reflect(ua + (2 * uniform() - 1) * r));
    }
    return y;
}

std::vector<double> WeightedRandomSearch::propose(const std::vector<HpEvaluation>& history) {
    if (history.size() < 2) {  // the two fixed points on the diagonal
        const double u = history.empty() ? 1.0 / 3.0 : 2.0 / 3.0;
        std::vector<double> x;
        for (const HyperParameter& p : box_) x.push_back(p.from_unit(u));
        return x;
    }
    const auto [i1, i2] = two_best(history);
    const double p1 = anchor_probability(ranked(history[i1].loss), ranked(history[i2].loss));
    const bool first = uniform() < p1;
    const std::vector<double>& a = history[first ? i1 : i2].values;
    const std::vector<double>& b = history[first ? i2 : i1].values;
    const auto evaluated = [&](const std::vector<double>& y) {
        return std::any_of(history.begin(), history.end(),
                           [&](const HpEvaluation& h) { return h.values == y; });
    };
    std::vector<double> y = draw_near(a, b);
    for (int retry = 0; retry < 10 && evaluated(y); ++retry) y = draw_near(a, b);
    return y;
}

}  // namespace cudarts
