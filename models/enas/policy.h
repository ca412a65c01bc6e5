// What the two ENAS controllers share (the macro one of controller.h, the micro one of micro.h):
// Katib's controller settings, the LSTM cell, the logit transform T, the attention over stored
// states, drawing one choice, and PolicyCore, which owns the variables, their Adam, the baseline
// and the REINFORCE step. Both controllers walk their own search space with these pieces; the
// variables, formulas and settings are described in controller.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"
#include "engine/rng.h"
#include "kernels/check.h"  // InputError
#include "models/nn/optim.h"
#include "models/nn/params.h"

namespace cudarts::enas {

// Katib's algorithm settings (table in 2.6). std::nullopt = "None" (disabled) where allowed.
struct ControllerSettings {
    int hidden_size = 64;
    std::optional<double> temperature = 5.0, tanh_const = 2.25, entropy_weight = 1e-5;
    double baseline_decay = 0.999, learning_rate = 5e-5, skip_target = 0.4;
    std::optional<double> skip_weight = 0.8;
    int train_steps = 50, log_every_steps = 10;

    // The table's names of the settings in its order, visitor(name, member) for each (`s` a
    // ControllerSettings, const or not): parsing, the range checks and the JSON form walk it.
    template <class Settings, class Visitor>
    static void fields(Settings& s, const Visitor& f) {
        f("controller_hidden_size", s.hidden_size);
        f("controller_temperature", s.temperature);
        f("controller_tanh_const", s.tanh_const);
        f("controller_entropy_weight", s.entropy_weight);
        f("controller_baseline_decay", s.baseline_decay);
        f("controller_learning_rate", s.learning_rate);
        f("controller_skip_target", s.skip_target);
        f("controller_skip_weight", s.skip_weight);
        f("controller_train_steps", s.train_steps);
        f("controller_log_every_steps", s.log_every_steps);
    }
};

// name -> value as strings with Katib's setting names (controller_hidden_size, ...); "None" where
// the table allows it; later pairs override earlier ones. Unknown names, malformed numbers and
// out-of-range values throw SettingError (an InputError) naming the setting.
ControllerSettings parse_controller_settings(
    const std::vector<std::pair<std::string, std::string>>& kv);
// The range checks of the table, on settings built in code; throws SettingError.
void validate_controller_settings(const ControllerSettings& s);

// The settings as a run's options keep them: Katib's names with the values as Katib writes them,
// text ("None" where switched off; reals with 17 significant digits, which read back exactly).
nlohmann::json controller_settings_json(const ControllerSettings& s);
// Back from that form (values must be strings); a wrong type or a bad setting is an InputError
// "<what>: controller: ..." (what names the options, e.g. "PATH: metadata 'options'").
ControllerSettings controller_settings_from_json(const nlohmann::json& j, const std::string& what);

struct UpdateStats {
    double reward;         // R: the reward plus the entropy bonus
    double baseline;       // b after its update (the one the loss used)
    double loss;           // the REINFORCE loss before the step
    double grad_norm;      // global L2 norm of the gradient (not clipped)
    double entropy = 0;    // the scored architecture's entropy terms (PolicyTerms::entropy)
    double skip_rate = 0;  // the macro controller's skip rate (PolicyTerms::skip_rate), else 0
};

// ----- pieces of a walk (all (rows, H) matrices on the CPU, built from the autograd ops) -----

// One uniform draw in [0, 1) with 53 random bits.
double uniform01(Generator& gen);

// A class drawn from one row of log-probabilities `logp` (`classes` floats) with one uniform draw
// of `gen`: the first class whose running sum of p passes the draw (the last one when rounding
// leaves the draw above the float sum of p).
int draw_class(const float* logp, int64_t classes, Generator& gen);

// A constant (rows, cols) matrix of zeros.
Var zeros(int64_t rows, int64_t cols);

// (1, H) rows stacked into (rows, H): concatenation along dim 1 lays them out row after row.
Var stack_rows(const std::vector<Var>& rows, int64_t hidden);

// T(x) = tanh_const * tanh(x / temperature), either part skipped when its setting is None.
Var transform_logits(Var logits, const ControllerSettings& s);

// The attention scores q_j = tanh(keys_j + h w2) v of the stored keys (each (1, H), h w1 of a
// stored state) against the state h: a (keys, 1) column.
Var attention(const std::vector<Var>& keys, const Var& h, const Var& w2, const Var& v,
              int64_t hidden);

// The controller's LSTM cell without biases, gates i, f, o, g in the columns of w (2H x 4H):
// c' = s(i) tanh(g) + s(f) c, h' = s(o) tanh(c'), starting from c = h = 0.
struct LstmCell {
    LstmCell(const Var& w, int64_t hidden);
    void step(const Var& x);  // x (1, H): one step, c and h replaced

    const Var& w;
    int64_t hidden;
    Var c, h;
};

// ----- the part of a controller that learns -----

// What a REINFORCE step needs from one architecture scored on the tape: the sum of the choices'
// log-likelihoods, the entropy bonus's entropy (a number) and, when defined, a penalty added to
// the loss with the given weight.
struct ScoredChoices {
    Var log_prob;
    double entropy = 0;
    Var penalty;
    double penalty_weight = 0;
    double skip_rate = 0;  // passed on to UpdateStats::skip_rate
};

// InputError "reward: expected a finite number, got ..." unless `reward` is finite.
void check_reward(double reward);

// The settings, the variables (named by their role, controller.h), their Adam and the moving-
// average baseline, which both controllers own alike, and the REINFORCE step on them.
class PolicyCore {
public:
    ParamStore& weights() { return *weights_; }
    const ParamStore& weights() const { return *weights_; }
    Adam& optimizer() { return *adam_; }
    const Adam& optimizer() const { return *adam_; }
    double baseline() const { return baseline_; }
    void set_baseline(double b) { baseline_ = b; }  // checkpoint restore
    const ControllerSettings& settings() const { return settings_; }

protected:
    // The settings are kept as given; the controller checks them before build().
    explicit PolicyCore(const ControllerSettings& settings) : settings_(settings) {}

    // Creates the variables in Katib's order for `num_ops` op classes, U(-0.01, 0.01) from `seed`,
    // and their Adam (TF's defaults, learning_rate from the settings).
    void build(int64_t num_ops, uint64_t seed);

    // The variables of build() by role.
    struct Vars {
        const Var &lstm, &g_emb, &w_emb, &w_soft, &w1, &w2, &v;
    };
    Vars vars() const;

    // One REINFORCE step: `score` records one architecture on the tape; R = reward +
    // entropy_weight * entropy; b <- b - (1 - decay)(b - R); loss = -log_prob (R - b) (+ weight *
    // penalty); backward over every variable, one Adam step, then b is kept. The tape is cleared
    // on an exception.
    UpdateStats reinforce(double reward, const std::function<ScoredChoices()>& score);

private:
    ControllerSettings settings_;
    // Held by pointer so that a moved controller keeps Adam's reference to the store valid.
    std::unique_ptr<ParamStore> weights_;
    std::unique_ptr<Adam> adam_;
    double baseline_ = 0;
};

// One walk of a controller through its space: teacher forced on `*forced` when set, else each
// choice drawn from `gen`; `arch` collects the choices made.
template <class Arch>
struct Walk {
    const Arch* forced = nullptr;
    Generator* gen = nullptr;
    Arch arch;
};

// sample(), score() and update(), which both controllers do alike, written once. `Self` (the
// controller, which derives from Policy<Self, ...>) walks its space in run(Walk<Arch>&) -> Terms,
// checks an architecture in check(arch) (an InputError) and says in scored(terms) what the
// REINFORCE step takes of the terms.
template <class Self, class Arch, class Terms>
class Policy : public PolicyCore {
public:
    // One architecture, one uniform draw of `gen` per choice, in the order of the walk. Records
    // nothing (NoGradGuard).
    Arch sample(Generator& gen) const {
        NoGradGuard no_grad;
        Walk<Arch> walk;
        walk.gen = &gen;
        self().run(walk);
        return walk.arch;
    }
    // The same distribution teacher forced on `arch` (checked first), recorded on this thread's
    // tape: call it right before a backward (which consumes the tape) or clear_tape() afterwards.
    Terms score(const Arch& arch) const {
        self().check(arch);
        Walk<Arch> walk;
        walk.forced = &arch;
        return self().run(walk);
    }
    // One REINFORCE step (PolicyCore::reinforce) on `arch` with accuracy-like `reward` (higher is
    // better), both checked first. The loss reads the baseline after its update (TF's dependency
    // order in Katib's graph; unconfirmed, 2.8). backward consumes the whole tape of this thread;
    // on an exception the tape is cleared.
    UpdateStats update(const Arch& arch, double reward) {
        check_reward(reward);
        self().check(arch);
        return reinforce(reward, [&] { return self().scored(score(arch)); });
    }

protected:
    using PolicyCore::PolicyCore;

private:
    const Self& self() const { return static_cast<const Self&>(*this); }
};

}  // namespace cudarts::enas
