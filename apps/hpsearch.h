// `cudarts hpsearch`: autoNet's weighted random search (models/run/hpsearch.h) over the numeric
// flags of `cudarts train` or `cudarts search`, or of any program that prints Katib's metric lines.
//
// The config is a JSON file (YAML is not read):
//   {"command": "train",                 // "train", "search" or "exec"
//    "trials": 12, "seed": 1,            // T >= 2 trainings in all (2 fixed + T - 2 drawn)
//    "flags": {"epochs": 2, "subset": 2048},   // every trial's budget and other fixed flags
//    "valid_portion": 0.2,               // train: the held-out validation fraction (default 0.2)
//    "exec": ["python3", "f.py", "--lr", "{learning-rate}"],  // command "exec" only
//    "parameters": [{"name": "learning-rate", "min": 1e-3, "max": 0.1, "scale": "log"},
//                   {"name": "layers", "min": 4, "max": 8, "type": "integer"}]}
// A parameter's name is the flag without "--"; scale is "linear" (default) or "log", type "real"
// (default) or "integer". Real values are kept to 6 significant digits, so the value a trial is
// given is the value trials.jsonl records.
//
// The run directory (--out DIR): config.json (the config, verbatim), trials.jsonl (one line per
// finished trial, rewritten atomically), trials/NNN/ and trials/NNN.log (each cudarts trial's own
// run directory and its output), hpsearch.svg. Every trial is scored on a validation split held
// out of the training data: search's second half (--train-portion), train's --valid-portion, an
// exec trial's own `Validation-Loss=` line. A resumed search (--resume DIR) replays the finished
// trials' proposals, checks that they match, and reruns only the unfinished trial, from scratch.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/run/hpsearch.h"

namespace cudarts::apps {

struct HpSearchConfig {
    std::string command;            // "train", "search" or "exec"
    std::vector<std::string> exec;  // "exec": the program and its arguments, {name} replaced
    int trials = 10;
    uint64_t seed = 0;
    std::vector<std::pair<std::string, std::string>> flags;  // fixed: name (no "--"), value
    double valid_portion = 0.2;                              // train only
    std::vector<HyperParameter> box;
};

// The config in `text`; InputError "<what>: <key>: <problem>" for invalid JSON, an unknown key, a
// wrong type or an out-of-range value. The flag names are checked by check_trial_flags.
HpSearchConfig parse_hpsearch_config(std::string_view text, const std::string& what);

// InputError "<what>: parameters[i]: ..." or "<what>: flags.<name>: ..." when a name is not a flag
// of the trial command, is one hpsearch sets itself (out, resume, valid-portion) or when the
// command refuses the value's type (an integer flag given a real parameter).
void check_trial_flags(const HpSearchConfig& config, const std::string& what);

// A real value in 6 significant digits, an integer in full: the text a trial's flag is given.
std::string flag_value(const HyperParameter& p, double v);

struct HpTrialResult {
    double valid_loss = 0;  // non-finite: the trial diverged or failed (ranked as +inf)
    double valid_acc = 0;   // NaN where the trial reported none
    std::string status = "ok";
};

struct HpTrial {
    int index = 0;
    std::vector<double> values;  // in the box's order
    HpTrialResult result;
    double seconds = 0;
};

// Scores the trial `index` at `values`; InputError / other exceptions end the search.
using HpObjective = std::function<HpTrialResult(int index, const std::vector<double>& values)>;

// Runs the search in `dir` up to config.trials trials, continuing from dir/trials.jsonl when it
// holds finished trials (InputError when they do not follow from the config and the seed).
// After each trial: trials.jsonl and hpsearch.svg; one line per trial on `log`.
std::vector<HpTrial> run_hpsearch(const HpSearchConfig& config, const std::filesystem::path& dir,
                                  const HpObjective& objective, std::FILE* log);

// The trials as the search's history: each one's point and validation loss, in order.
std::vector<HpEvaluation> evaluations(std::span<const HpTrial> trials);

// The index of the lowest validation loss (the earliest on ties); `trials` not empty.
size_t best_trial(const std::vector<HpTrial>& trials);

// The finished trials' table, one row each, and the SVG of validation loss and accuracy against
// the trial index (best so far as a step line).
std::string trials_table(const HpSearchConfig& config, const std::vector<HpTrial>& trials);
std::string hpsearch_svg(const std::vector<HpTrial>& trials);

}  // namespace cudarts::apps
