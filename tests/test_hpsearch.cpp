// The weighted random hyperparameter search (models/run/hpsearch.h) on an analytic objective, no
// training: its fixed points, the neighbourhood it finds, its repeat by seed, its resume, and the
// config errors of `cudarts hpsearch` (apps/hpsearch.h).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/hpsearch.h"
#include "kernels/check.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using apps::HpSearchConfig;
using apps::HpTrial;
using apps::HpTrialResult;

// A box of a log-scale real and a linear integer; the loss is smallest at lr = 0.01, n = 5.
HpSearchConfig analytic_config(int trials, uint64_t seed) {
    HpSearchConfig c;
    c.command = "exec";
    c.trials = trials;
    c.seed = seed;
    c.box = {{.name = "lr", .lo = 1e-4, .hi = 1, .log = true},
             {.name = "n", .lo = 1, .hi = 9, .integer = true}};
    return c;
}

HpTrialResult analytic(const std::vector<double>& x) {
    const double l = std::log10(x[0]) + 2, m = (x[1] - 5) / 4;
    return {l * l + m * m, 1 / (1 + l * l + m * m), "ok"};
}

std::vector<HpTrial> search_in(const std::filesystem::path& dir, const HpSearchConfig& c,
                               int* calls = nullptr) {
    std::FILE* quiet = std::fopen("/dev/null", "w");
    const auto trials = apps::run_hpsearch(
        c, dir,
        [&](int, const std::vector<double>& x) {
            if (calls) ++*calls;
            return analytic(x);
        },
        quiet);
    std::fclose(quiet);
    return trials;
}

TEST_CASE("hpsearch starts at the two points a third and two thirds along the box's diagonal") {
    WeightedRandomSearch s(analytic_config(2, 0).box, 0);
    const std::vector<double> first = s.propose({});
    CHECK(first[0] == doctest::Approx(std::pow(10.0, -4 + 4.0 / 3)).epsilon(1e-5));
    CHECK(first[1] == 4);  // 1 + 8/3 rounded
    const std::vector<double> second = s.propose({{first, 1.0}});
    CHECK(second[0] == doctest::Approx(std::pow(10.0, -4 + 8.0 / 3)).epsilon(1e-5));
    CHECK(second[1] == 6);  // 1 + 16/3 rounded
}

TEST_CASE("hpsearch draws near the best two points and finds the minimum's neighbourhood") {
    test::TempDir dir("hpsearch-find");
    const std::vector<HpTrial> trials = search_in(dir.path, analytic_config(40, 7));
    REQUIRE(trials.size() == 40);
    const HpTrial& best = trials[apps::best_trial(trials)];
    CHECK(best.result.valid_loss < 0.1);
    CHECK(std::abs(std::log10(best.values[0]) + 2) < 0.3);
    CHECK(std::abs(best.values[1] - 5) <= 1);
    for (const HpTrial& t : trials) {  // inside the box, integers whole
        CHECK(t.values[0] >= 1e-4);
        CHECK(t.values[0] <= 1);
        CHECK(t.values[1] == std::round(t.values[1]));
    }
}

TEST_CASE("hpsearch repeats exactly by seed and differs with another seed") {
    test::TempDir a("hpsearch-a"), b("hpsearch-b"), c("hpsearch-c");
    const auto ta = search_in(a.path, analytic_config(12, 3));
    const auto tb = search_in(b.path, analytic_config(12, 3));
    const auto tc = search_in(c.path, analytic_config(12, 4));
    bool other = false;
    for (size_t i = 0; i < ta.size(); ++i) {
        CHECK(ta[i].values == tb[i].values);
        other = other || ta[i].values != tc[i].values;
    }
    CHECK(other);
}

TEST_CASE("hpsearch resumes after a kill without rerunning a finished trial") {
    test::TempDir whole("hpsearch-whole"), parts("hpsearch-parts");
    const auto full = search_in(whole.path, analytic_config(12, 5));
    int calls = 0;
    search_in(parts.path, analytic_config(5, 5), &calls);  // killed after trial 5
    CHECK(calls == 5);
    const auto resumed = search_in(parts.path, analytic_config(12, 5), &calls);
    CHECK(calls == 12);
    REQUIRE(resumed.size() == full.size());
    for (size_t i = 0; i < full.size(); ++i) CHECK(resumed[i].values == full[i].values);

    // A trials.jsonl that does not follow from the config and seed is refused, naming the file.
    const std::string err = test::error_of([&] { search_in(parts.path, analytic_config(12, 6)); });
    CHECK(err.find("trials.jsonl: trial 2") != std::string::npos);
    CHECK(err.find("does not follow from config.json") != std::string::npos);
}

TEST_CASE("hpsearch configs: bad JSON, unknown keys and out-of-range values are one line each") {
    const auto error = [](const std::string& text) {
        return test::error_of([&] { apps::parse_hpsearch_config(text, "c.json"); });
    };
    const std::string box =
        R"("parameters": [{"name": "learning-rate", "min": 0.001, "max": 0.1}])";
    CHECK(
        apps::parse_hpsearch_config(R"({"command": "train", )" + box + "}", "c.json").box.size() ==
        1);
    const std::pair<std::string, std::string> cases[] = {
        {"{\"command\": ", "c.json is not valid JSON"},
        {R"({"command": "train", "epochs": 3, )" + box + "}", "c.json: 'epochs': unknown key"},
        {R"({"command": "fit", )" + box + "}", "c.json: command: expected train, search or exec"},
        {R"({"command": "train", "trials": 1, )" + box + "}", "c.json: trials: expected a whole"},
        {R"({"command": "train", "valid_portion": 1.5, )" + box + "}",
         "c.json: valid_portion: expected a fraction in (0, 1)"},
        {R"({"command": "search", "valid_portion": 0.2, )" + box + "}",
         "c.json: valid_portion: only for"},
        {R"({"command": "train", "parameters": [{"name": "lr", "min": 0.1, "max": 0.01}]})",
         "c.json: parameters[0]: expected min < max"},
        {R"({"command": "train", "parameters": [{"name": "lr", "min": 0, "max": 1, "scale": "log"}]})",
         "c.json: parameters[0]: a log scale needs min > 0"},
        {R"({"command": "train", "parameters": [{"name": "layers", "min": 4, "max": 8.5, "type": "integer"}]})",
         "c.json: parameters[0]: an integer parameter needs whole min and max"},
        {R"({"command": "exec", )" + box + "}", "c.json: exec: missing"},
    };
    for (const auto& [text, expected] : cases) {
        const std::string err = error(text);
        CAPTURE(text);
        CHECK(err.find(expected) != std::string::npos);
        CHECK(err.find('\n') == std::string::npos);
    }

    // Flags are checked against the trial command's own: an unknown one, an integer flag given a
    // real parameter, and one hpsearch sets itself.
    const auto flag_error = [](const std::string& text) {
        return test::error_of([&] {
            apps::check_trial_flags(apps::parse_hpsearch_config(text, "c.json"), "c.json");
        });
    };
    CHECK(flag_error(
              R"({"command": "train", "parameters": [{"name": "layerz", "min": 4, "max": 8}]})")
              .find("does not take --layerz") != std::string::npos);
    CHECK(flag_error(
              R"({"command": "train", "parameters": [{"name": "layers", "min": 4, "max": 8}]})")
              .find("does not take --layers=5.33333") != std::string::npos);
    CHECK(flag_error(R"({"command": "search", "flags": {"out": "x"}, )" + box + "}")
              .find("--out is set by hpsearch itself") != std::string::npos);
}

}  // namespace
}  // namespace cudarts
