// autoNet's weighted random hyperparameter search with two-point fixed initialisation, as
// reference/katib.md 3.3 states it.
//
// A box of d numeric hyperparameters, each mapped to u in [0, 1] (linearly, or through ln for a
// log scale). Trial 0 is u = 1/3 and trial 1 is u = 2/3 in every coordinate: the two points that
// divide the box's main diagonal into three equal parts. Every later trial:
//   1. (x1, v1), (x2, v2) are the two lowest validation losses so far (v1 <= v2, the earlier trial
//      first on ties; a non-finite loss counts as +inf);
//   2. the anchor a is x1 with probability p1 = v2 / (v1 + v2), clamped to [0.01, 0.99] (0.99 when
//      only v2 is infinite, 0.5 when both are or when v1 + v2 = 0), else x2; b is the other one;
//   3. each coordinate is drawn uniformly in [a_i - r_i, a_i + r_i], r_i = max(|a_i - b_i| / 2,
//      0.02), in u space, reflected back into [0, 1]: never nearer to b than to a;
//   4. mapped back (integers rounded); a point equal to an evaluated one is drawn again, at most
//      10 times, then accepted.
// One generator, seeded once, draws the anchor and then the coordinates in declared order, so the
// proposals are a function of the seed and the losses alone: a resumed search replays the finished
// trials' proposals and continues with the generator where the killed run left it.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace cudarts {

struct HyperParameter {
    std::string name;
    double lo = 0, hi = 1;
    bool log = false;      // ln scale; needs lo > 0
    bool integer = false;  // values rounded to the nearest whole number; lo and hi whole

    double to_unit(double x) const;  // (s(x) - s(lo)) / (s(hi) - s(lo)), s = identity or ln
    // s^-1 back, kept in [lo, hi]: an integer rounded, a real to 6 significant digits (so that
    // the text a trial is given is exactly the value recorded).
    double from_unit(double u) const;
    // SettingError naming `name` unless lo < hi, both finite, lo > 0 on a log scale and both whole
    // for an integer.
    void validate() const;
};

// One finished trial: its point in declared order and its validation loss (lower is better).
struct HpEvaluation {
    std::vector<double> values;
    double loss = 0;
};

class WeightedRandomSearch {
public:
    // SettingError for an empty box, a repeated name or an invalid parameter.
    WeightedRandomSearch(std::vector<HyperParameter> box, uint64_t seed);

    // The point of trial history.size(), given the trials before it in order. Call it once per
    // trial with the history growing by one each time (the generator advances from trial 2 on).
    std::vector<double> propose(const std::vector<HpEvaluation>& history);

    // Indices of the lowest and the second lowest loss (non-finite as +inf, earlier first on
    // ties); needs at least two trials.
    static std::pair<size_t, size_t> two_best(const std::vector<HpEvaluation>& history);

    const std::vector<HyperParameter>& box() const { return box_; }

private:
    double uniform();  // in [0, 1), 53 bits of one 64-bit draw
    std::vector<double> draw_near(const std::vector<double>& a, const std::vector<double>& b);

    std::vector<HyperParameter> box_;
    std::mt19937_64 gen_;  // its sequence is fixed by the C++ standard, on every platform
};

}  // namespace cudarts
