// `cudarts hpsearch`; see apps/hpsearch.h.
#include "apps/hpsearch.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cxxopts.hpp>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include "apps/run_dir.h"
#include "apps/subcommands.h"
#include "engine/fileio.h"
#include "engine/json.h"
#include "kernels/check.h"
#include "models/nn/setting.h"

extern char** environ;

namespace fs = std::filesystem;

namespace cudarts::apps {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string printed(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

// "<what>: <key>: <problem>", the one line every config error is.
[[noreturn]] void refuse(const std::string& what, const std::string& key,
                         const std::string& problem) {
    throw InputError(what + ": " + key + ": " + problem);
}

std::string joined(std::initializer_list<const char*> names) {
    std::string s;
    for (const char* n : names) s += std::string(s.empty() ? "" : ", ") + n;
    return s;
}

// Refuses a key of `obj` that is not in `known`; `at` is the object's path ("" at the top).
void refuse_unknown_keys(const nlohmann::json& obj, const std::string& what, const std::string& at,
                         std::initializer_list<const char*> known) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        const bool ok =
            std::any_of(known.begin(), known.end(), [&](const char* k) { return it.key() == k; });
        if (!ok)
            refuse(what, at.empty() ? "'" + quote_input(it.key()) + "'" : at,
                   (at.empty() ? std::string("unknown key")
                               : "unknown key '" + quote_input(it.key()) + "'") +
                       " (expected one of " + joined(known) + ")");
    }
}

double number_at(const nlohmann::json& v, const std::string& what, const std::string& key) {
    if (!v.is_number()) refuse(what, key, "expected a number, got " + quote_json(v));
    return v.get<double>();
}

int64_t whole_at(const nlohmann::json& v, const std::string& what, const std::string& key,
                 int64_t lo, int64_t hi) {
    if (!v.is_number_integer() || v.get<double>() < static_cast<double>(lo) ||
        v.get<double>() > static_cast<double>(hi))
        refuse(what, key,
               "expected a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                   "], got " + quote_json(v));
    return v.get<int64_t>();
}

std::string string_at(const nlohmann::json& v, const std::string& what, const std::string& key) {
    if (!v.is_string()) refuse(what, key, "expected a string, got " + quote_json(v));
    return v.get<std::string>();
}

// A flag name as a trial command takes it: letters, digits, '-' and '_', not starting with '-'.
bool is_flag_name(const std::string& name) {
    return !name.empty() && name[0] != '-' &&
           std::all_of(name.begin(), name.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

HyperParameter parse_parameter(const nlohmann::json& j, const std::string& what,
                               const std::string& key) {
    if (!j.is_object())
        refuse(what, key,
               "expected an object like {\"name\": \"learning-rate\", \"min\": 0.001, \"max\": "
               "0.1, \"scale\": \"log\"}, got " +
                   quote_json(j));
    refuse_unknown_keys(j, what, key, {"name", "min", "max", "scale", "type"});
    for (const char* required : {"name", "min", "max"})
        if (!j.contains(required)) refuse(what, key, std::string("missing '") + required + "'");
    HyperParameter p;
    p.name = string_at(j["name"], what, key + ".name");
    if (!is_flag_name(p.name))
        refuse(what, key + ".name",
               "expected a flag name without '--' (letters, digits, '-', '_'), got '" +
                   quote_input(p.name) + "'");
    p.lo = number_at(j["min"], what, key + ".min");
    p.hi = number_at(j["max"], what, key + ".max");
    const std::string scale =
        j.contains("scale") ? string_at(j["scale"], what, key + ".scale") : "linear";
    if (scale != "linear" && scale != "log")
        refuse(what, key + ".scale", "expected linear or log, got '" + quote_input(scale) + "'");
    p.log = scale == "log";
    const std::string type =
        j.contains("type") ? string_at(j["type"], what, key + ".type") : "real";
    if (type != "real" && type != "integer")
        refuse(what, key + ".type", "expected real or integer, got '" + quote_input(type) + "'");
    p.integer = type == "integer";
    try {
        p.validate();
    } catch (const SettingError& e) {
        refuse(what, key, e.detail());
    }
    return p;
}

// A fixed flag's value as text: strings as they are, numbers in JSON's shortest round-trip form,
// booleans as true/false.
std::string flag_text(const nlohmann::json& v, const std::string& what, const std::string& key) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    if (v.is_number()) return v.dump();
    refuse(what, key, "expected a string, a number or true/false, got " + quote_json(v));
}

// "learning-rate=0.00464 layers=5"
std::string point_text(const std::vector<HyperParameter>& box, const std::vector<double>& x) {
    std::string s;
    for (size_t i = 0; i < box.size(); ++i)
        s += (i ? " " : "") + box[i].name + "=" + flag_value(box[i], x[i]);
    return s;
}

std::string trial_name(int index) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%03d", index);
    return buf;
}

nlohmann::json trial_json(const std::vector<HyperParameter>& box, const HpTrial& t) {
    nlohmann::json params = nlohmann::json::object();
    for (size_t i = 0; i < box.size(); ++i) params[box[i].name] = t.values[i];
    const auto finite_or_null = [](double v) {
        return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    };
    return {{"trial", t.index},
            {"params", params},
            {"valid_loss", finite_or_null(t.result.valid_loss)},
            {"valid_acc", finite_or_null(t.result.valid_acc)},
            {"status", t.result.status},
            {"seconds", t.seconds}};
}

// The finished trials in `path` (none when it does not exist); InputError naming the file and the
// line for anything but what trial_json wrote for this box.
std::vector<HpTrial> read_trials(const fs::path& path, const std::vector<HyperParameter>& box) {
    std::vector<HpTrial> trials;
    if (!fs::exists(path)) return trials;
    const std::vector<uint8_t> bytes = read_file(path.string());
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        const std::string what = path.string() + ":" + std::to_string(n);
        const nlohmann::json j = parse_json(line, what);
        if (!j.is_object()) throw InputError(what + ": expected a JSON object per line");
        refuse_unknown_keys(j, what, "",
                            {"trial", "params", "valid_loss", "valid_acc", "status", "seconds"});
        for (const char* key : {"trial", "params", "valid_loss", "status"})
            if (!j.contains(key)) refuse(what, key, "missing");
        HpTrial t;
        t.index = static_cast<int>(whole_at(j["trial"], what, "trial", 0, 1 << 30));
        if (t.index != static_cast<int>(trials.size()))
            refuse(what, "trial",
                   "expected " + std::to_string(trials.size()) + " (the trials in order), got " +
                       std::to_string(t.index));
        const nlohmann::json& params = j["params"];
        if (!params.is_object() || params.size() != box.size())
            refuse(what, "params",
                   "expected the config's " + std::to_string(box.size()) + " parameters, got " +
                       quote_json(params));
        for (const HyperParameter& p : box) {
            if (!params.contains(p.name))
                refuse(what, "params", "missing '" + quote_input(p.name) + "'");
            t.values.push_back(number_at(params[p.name], what, "params." + p.name));
        }
        const auto loss_or = [&](const char* key, double missing) {
            if (!j.contains(key) || j[key].is_null()) return missing;
            return number_at(j[key], what, key);
        };
        t.result.valid_loss = loss_or("valid_loss", kInf);
        t.result.valid_acc = loss_or("valid_acc", kNaN);
        t.result.status = string_at(j["status"], what, "status");
        t.seconds = loss_or("seconds", 0);
        trials.push_back(std::move(t));
    }
    return trials;
}

// Runs `args` with stdout and stderr into `log_path` (stdin from /dev/null) and waits; its exit
// status, or 128 + the signal that ended it. `search_path`: look the program up in PATH.
int spawn_logged(const std::vector<std::string>& args, const fs::path& log_path, bool search_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = search_path
                       ? posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ)
                       : posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw InputError("exec: cannot start '" + quote_input(args[0]) + "' (" + std::strerror(rc) +
                         ")");
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_text(const fs::path& path) {
    const std::vector<uint8_t> bytes = read_file(path.string());
    return std::string(bytes.begin(), bytes.end());
}

// The last non-empty line of `text` ("" when none).
std::string last_line(const std::string& text) {
    std::istringstream in(text);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last;
}

// The value of the last `name=<number>` line of `text` (Katib's metric lines), NaN when none.
double last_metric(const std::string& text, const std::string& name) {
    std::istringstream in(text);
    std::string line;
    double value = kNaN;
    while (std::getline(in, line)) {
        if (line.rfind(name + "=", 0) != 0) continue;
        const char* start = line.c_str() + name.size() + 1;
        char* end = nullptr;
        const double v = std::strtod(start, &end);
        if (end != start &&
            std::all_of(static_cast<const char*>(end), line.c_str() + line.size(),
                        [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
            value = v;
    }
    return value;
}

// One trial of `cudarts train` or `cudarts search` in its own run directory, scored by the last
// line of its metrics.jsonl (its final epoch on the held-out split).
HpTrialResult run_cudarts_trial(const HpSearchConfig& c, const fs::path& dir, int index,
                                const std::vector<double>& values) {
    const fs::path run = dir / "trials" / trial_name(index);
    const fs::path log = dir / "trials" / (trial_name(index) + ".log");
    fs::remove_all(run);  // a trial a killed search left unfinished starts again
    std::vector<std::string> args = {fs::read_symlink("/proc/self/exe").string(), c.command,
                                     "--out=" + run.string()};
    if (c.command == "train")
        args.push_back("--valid-portion=" + nlohmann::json(c.valid_portion).dump());
    for (const auto& [name, value] : c.flags) args.push_back("--" + name + "=" + value);
    for (size_t i = 0; i < c.box.size(); ++i)
        args.push_back("--" + c.box[i].name + "=" + flag_value(c.box[i], values[i]));
    const int status = spawn_logged(args, log, false);
    const std::string where = "trial " + std::to_string(index) + " (cudarts " + c.command + " " +
                              point_text(c.box, values) + "; log " + log.string() + ")";
    if (status == 3) return {kInf, kNaN, "diverged"};
    if (status == 2) throw InputError(where + ": " + last_line(read_text(log)));
    if (status != 0)
        throw std::runtime_error(where + " exited with status " + std::to_string(status));
    const std::string metrics = last_line(read_text(run / "metrics.jsonl"));
    const nlohmann::json m = parse_json(metrics, (run / "metrics.jsonl").string());
    if (!m.is_object() || !m.contains("valid_loss") || !m.contains("valid_acc"))
        throw std::runtime_error(where + ": metrics.jsonl has no valid_loss and valid_acc");
    return {m["valid_loss"].get<double>(), m["valid_acc"].get<double>(), "ok"};
}

// One trial of any program: `exec` with every {name} replaced by the parameter's value, scored by
// the last `Validation-Loss=` (and `Validation-Accuracy=`) line it prints. A program that fails or
// prints no loss is a failed trial (ranked last), and the search goes on.
HpTrialResult run_exec_trial(const HpSearchConfig& c, const fs::path& dir, int index,
                             const std::vector<double>& values) {
    std::vector<std::string> args = c.exec;
    for (std::string& a : args)
        for (size_t i = 0; i < c.box.size(); ++i) {
            const std::string key = "{" + c.box[i].name + "}";
            for (size_t at = a.find(key); at != std::string::npos; at = a.find(key, at)) {
                const std::string v = flag_value(c.box[i], values[i]);
                a.replace(at, key.size(), v);
                at += v.size();
            }
        }
    const fs::path log = dir / "trials" / (trial_name(index) + ".log");
    const int status = spawn_logged(args, log, true);
    const std::string text = read_text(log);
    if (status != 0) return {kInf, kNaN, "failed (exit " + std::to_string(status) + ")"};
    const double loss = last_metric(text, "Validation-Loss");
    if (!std::isfinite(loss)) return {kInf, kNaN, "failed (no Validation-Loss= line)"};
    return {loss, last_metric(text, "Validation-Accuracy"), "ok"};
}

}  // namespace

size_t best_trial(const std::vector<HpTrial>& trials) {
    std::vector<HpEvaluation> history;
    for (const HpTrial& t : trials) history.push_back({t.values, t.result.valid_loss});
    if (history.size() == 1) return 0;
    return WeightedRandomSearch::two_best(history).first;
}

std::string flag_value(const HyperParameter& p, double v) {
    if (p.integer) return std::to_string(std::llround(v));
    return printed("%.6g", v);
}

HpSearchConfig parse_hpsearch_config(std::string_view text, const std::string& what) {
    const nlohmann::json j = parse_json(text, what);
    if (!j.is_object())
        throw InputError(what +
                         ": expected a JSON object like {\"command\": \"train\", \"parameters\": "
                         "[...]}");
    refuse_unknown_keys(
        j, what, "", {"command", "exec", "trials", "seed", "flags", "valid_portion", "parameters"});
    HpSearchConfig c;
    if (!j.contains("command")) refuse(what, "command", "missing (expected train, search or exec)");
    c.command = string_at(j["command"], what, "command");
    if (c.command != "train" && c.command != "search" && c.command != "exec")
        refuse(what, "command",
               "expected train, search or exec, got '" + quote_input(c.command) + "'");
    if (c.command == "exec") {
        if (!j.contains("exec"))
            refuse(what, "exec",
                   "missing (expected the program and its arguments, e.g. [\"python3\", \"f.py\", "
                   "\"--lr\", \"{lr}\"])");
        const nlohmann::json& e = j["exec"];
        if (!e.is_array() || e.empty())
            refuse(what, "exec", "expected a non-empty list of strings, got " + quote_json(e));
        for (size_t i = 0; i < e.size(); ++i)
            c.exec.push_back(string_at(e[i], what, "exec[" + std::to_string(i) + "]"));
    } else if (j.contains("exec")) {
        refuse(what, "exec", "only with \"command\": \"exec\"");
    }
    if (j.contains("trials"))
        c.trials = static_cast<int>(whole_at(j["trials"], what, "trials", 2, 100000));
    if (j.contains("seed"))
        c.seed = static_cast<uint64_t>(
            whole_at(j["seed"], what, "seed", 0, std::numeric_limits<int64_t>::max()));
    if (j.contains("flags")) {
        if (c.command == "exec")
            refuse(what, "flags",
                   "only for train and search (an exec trial's arguments are in exec)");
        const nlohmann::json& f = j["flags"];
        if (!f.is_object())
            refuse(
                what, "flags",
                "expected an object like {\"epochs\": 2, \"subset\": 2048}, got " + quote_json(f));
        for (auto it = f.begin(); it != f.end(); ++it) {
            const std::string key = "flags." + quote_input(it.key());
            if (!is_flag_name(it.key()))
                refuse(what, key, "expected a flag name without '--' (letters, digits, '-', '_')");
            c.flags.emplace_back(it.key(), flag_text(it.value(), what, key));
        }
    }
    if (j.contains("valid_portion")) {
        if (c.command != "train")
            refuse(what, "valid_portion",
                   "only for \"command\": \"train\" (search holds out its own split: "
                   "flags.train-portion)");
        c.valid_portion = number_at(j["valid_portion"], what, "valid_portion");
        if (!(c.valid_portion > 0 && c.valid_portion < 1))
            refuse(what, "valid_portion",
                   "expected a fraction in (0, 1), got " + quote_json(j["valid_portion"]));
    }
    if (!j.contains("parameters"))
        refuse(what, "parameters", "missing (expected a list of {name, min, max, scale, type})");
    const nlohmann::json& params = j["parameters"];
    if (!params.is_array() || params.empty())
        refuse(what, "parameters", "expected a non-empty list, got " + quote_json(params));
    std::set<std::string> names;
    for (size_t i = 0; i < params.size(); ++i) {
        const std::string key = "parameters[" + std::to_string(i) + "]";
        HyperParameter p = parse_parameter(params[i], what, key);
        if (!names.insert(p.name).second)
            refuse(what, key + ".name", "'" + quote_input(p.name) + "' is named twice");
        for (const auto& [flag, value] : c.flags)
            if (flag == p.name)
                refuse(what, key + ".name", "'" + quote_input(p.name) + "' is also in flags");
        c.box.push_back(std::move(p));
    }
    return c;
}

void check_trial_flags(const HpSearchConfig& c, const std::string& what) {
    if (c.command == "exec") return;
    cxxopts::Options opts = c.command == "train" ? train_options() : search_options();
    const auto check = [&](const std::string& key, const std::string& name,
                           const std::string& value) {
        for (const char* own : {"out", "resume", "help", "valid-portion"})
            if (name == own)
                refuse(what, key,
                       "--" + name + " is set by hpsearch itself" +
                           (name == "valid-portion" ? " (use \"valid_portion\")" : ""));
        const std::string arg = "--" + name + "=" + value;
        std::vector<char*> argv = {const_cast<char*>("cudarts"), const_cast<char*>(arg.c_str()),
                                   nullptr};
        try {
            (void)opts.parse(2, argv.data());
        } catch (const cxxopts::exceptions::exception& e) {
            refuse(what, key,
                   "cudarts " + c.command + " does not take " + quote_input(arg) + " (" + e.what() +
                       ")");
        }
    };
    for (const auto& [name, value] : c.flags) check("flags." + name, name, value);
    for (size_t i = 0; i < c.box.size(); ++i) {
        const HyperParameter& p = c.box[i];
        const std::string key = "parameters[" + std::to_string(i) + "]";
        // The bounds, and a value between them with a fraction unless the parameter is an integer.
        for (const double u : {0.0, 1.0 / 3.0, 1.0})
            check(key, p.name, flag_value(p, p.from_unit(u)));
    }
}

std::vector<HpTrial> run_hpsearch(const HpSearchConfig& config, const fs::path& dir,
                                  const HpObjective& objective, std::FILE* log) {
    WeightedRandomSearch search(config.box, config.seed);
    const fs::path jsonl = dir / "trials.jsonl";
    std::vector<HpTrial> trials = read_trials(jsonl, config.box);
    std::vector<HpEvaluation> history;
    for (const HpTrial& t : trials) {  // replay: the generator ends where the killed run left it
        const std::vector<double> expected = search.propose(history);
        if (expected != t.values)
            throw InputError(jsonl.string() + ": trial " + std::to_string(t.index) + " (" +
                             point_text(config.box, t.values) +
                             ") does not follow from config.json and its seed (expected " +
                             point_text(config.box, expected) + ")");
        history.push_back({t.values, t.result.valid_loss});
    }
    if (!trials.empty())
        std::fprintf(log, "resuming: %zu of %d trials finished\n", trials.size(), config.trials);
    for (int k = static_cast<int>(trials.size()); k < config.trials; ++k) {
        HpTrial t;
        t.index = k;
        t.values = search.propose(history);
        std::fprintf(log, "trial %d/%d: %s%s\n", k + 1, config.trials,
                     point_text(config.box, t.values).c_str(),
                     k < 2 ? " (fixed, on the diagonal)" : "");
        std::fflush(log);
        const auto start = std::chrono::steady_clock::now();
        t.result = objective(k, t.values);
        t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        trials.push_back(t);
        history.push_back({t.values, t.result.valid_loss});
        std::string lines;
        for (const HpTrial& done : trials) lines += trial_json(config.box, done).dump() + "\n";
        write_text(jsonl, lines);
        write_text(dir / "hpsearch.svg", hpsearch_svg(trials));
        std::fprintf(log, "trial %d/%d: valid_loss %s valid_acc %s %s (%.1f s)\n", k + 1,
                     config.trials, printed("%.4f", t.result.valid_loss).c_str(),
                     printed("%.4f", t.result.valid_acc).c_str(), t.result.status.c_str(),
                     t.seconds);
        std::fflush(log);
    }
    return trials;
}

std::string trials_table(const HpSearchConfig& config, const std::vector<HpTrial>& trials) {
    std::vector<int> width;
    std::string out = "trial";
    for (const HyperParameter& p : config.box) {
        width.push_back(std::max<int>(12, static_cast<int>(p.name.size())));
        out += "  " + std::string(width.back() - p.name.size(), ' ') + p.name;
    }
    out += "  valid_loss  valid_acc  status\n";
    const size_t best = best_trial(trials);
    for (const HpTrial& t : trials) {
        out += printed("%5.0f", static_cast<double>(t.index));
        for (size_t i = 0; i < config.box.size(); ++i) {
            const std::string v = flag_value(config.box[i], t.values[i]);
            out += "  " +
                   std::string(std::max<int>(0, width[i] - static_cast<int>(v.size())), ' ') + v;
        }
        out += printed("  %10.4f", t.result.valid_loss) + printed("  %9.4f", t.result.valid_acc) +
               "  " + t.result.status + (static_cast<size_t>(t.index) == best ? "  (best)" : "") +
               "\n";
    }
    return out;
}

std::string hpsearch_svg(const std::vector<HpTrial>& trials) {
    constexpr double kWidth = 640, kPanel = 260, kLeft = 64, kRight = 20, kTop = 34, kBottom = 40;
    const size_t n = trials.size();
    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\""
        << 2 * kPanel << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
        << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    // One panel: the trials' values against their index, the best so far as a step line.
    const auto panel = [&](double y0, const char* title, bool lower_better,
                           const std::function<double(const HpTrial&)>& value) {
        double lo = kInf, hi = -kInf;
        for (const HpTrial& t : trials)
            if (std::isfinite(value(t))) lo = std::min(lo, value(t)), hi = std::max(hi, value(t));
        if (!(lo <= hi)) lo = 0, hi = 1;
        if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
        const double plot_w = kWidth - kLeft - kRight, plot_h = kPanel - kTop - kBottom;
        const auto px = [&](double i) { return kLeft + (n > 1 ? i / (n - 1) : 0.5) * plot_w; };
        const auto py = [&](double v) { return y0 + kTop + (hi - v) / (hi - lo) * plot_h; };
        svg << "<text x=\"" << kLeft << "\" y=\"" << y0 + 20 << "\" font-weight=\"bold\">" << title
            << "</text>\n"
            << "<rect x=\"" << kLeft << "\" y=\"" << y0 + kTop << "\" width=\"" << plot_w
            << "\" height=\"" << plot_h << "\" fill=\"none\" stroke=\"#888\"/>\n";
        for (const double v : {lo, hi})
            svg << "<text x=\"" << kLeft - 6 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\">"
                << printed("%.4g", v) << "</text>\n";
        for (size_t i = 0; i < n; i += std::max<size_t>(1, n / 10))
            svg << "<text x=\"" << px(static_cast<double>(i)) << "\" y=\""
                << y0 + kPanel - kBottom + 16 << "\" text-anchor=\"middle\">" << i << "</text>\n";
        svg << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << y0 + kPanel - 6
            << "\" text-anchor=\"middle\">trial</text>\n";
        std::string steps;
        double best = kNaN;
        for (size_t i = 0; i < n; ++i) {
            const double v = value(trials[i]);
            if (std::isfinite(v) && (!std::isfinite(best) || (lower_better ? v < best : v > best)))
                best = v;
            if (std::isfinite(best))
                steps += printed("%.1f,", px(static_cast<double>(i))) + printed("%.1f ", py(best));
            if (std::isfinite(v))
                svg << "<circle cx=\"" << px(static_cast<double>(i)) << "\" cy=\"" << py(v)
                    << "\" r=\"3.5\" fill=\"" << (i < 2 ? "#2a7" : "#37c") << "\"/>\n";
            else  // a diverged or failed trial, at the top edge
                svg << "<text x=\"" << px(static_cast<double>(i)) << "\" y=\"" << y0 + kTop + 4
                    << "\" text-anchor=\"middle\" fill=\"#c33\">x</text>\n";
        }
        if (!steps.empty())
            svg << "<polyline points=\"" << steps
                << "\" fill=\"none\" stroke=\"#e80\" stroke-width=\"1.5\"/>\n";
    };
    panel(0, "validation loss (green: the two fixed points; orange: best so far)", true,
          [](const HpTrial& t) { return t.result.valid_loss; });
    panel(kPanel, "validation accuracy", false,
          [](const HpTrial& t) { return t.result.valid_acc; });
    svg << "</svg>\n";
    return svg.str();
}

int cmd_hpsearch(int argc, char** argv) {
    cxxopts::Options opts("cudarts hpsearch",
                          "Weighted random hyperparameter search (autoNet's, from two fixed points "
                          "on the box's diagonal) over the numeric flags of cudarts train or "
                          "search, or of any program that prints Validation-Loss=.");
    // clang-format off
    opts.add_options()
        ("config", "the search's JSON config (README: hpsearch)", cxxopts::value<std::string>())
        ("out", "output directory (locked while the search lasts)",
         cxxopts::value<std::string>()->default_value("hpsearch-out"))
        ("resume", "continue the search in this directory (its config.json; only --trials may "
                   "change)", cxxopts::value<std::string>())
        ("trials", "trainings in all (over the config's \"trials\")", cxxopts::value<int>());
    // clang-format on
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    const bool resume = args.count("resume") > 0;
    if (resume && args.count("config"))
        throw InputError(
            "--config: a resumed search keeps its DIR/config.json (give --resume "
            "DIR alone)");
    if (!resume && !args.count("config"))
        throw InputError("--config: expected the search's JSON config file (or --resume DIR)");
    const fs::path dir(resume ? args["resume"].as<std::string>() : args["out"].as<std::string>());
    if (resume && args.count("out") && fs::path(args["out"].as<std::string>()) != dir)
        throw InputError("--out: a resumed search writes into its --resume directory " +
                         dir.string());
    const fs::path config_path =
        resume ? dir / "config.json" : fs::path(args["config"].as<std::string>());
    if (resume && !fs::exists(config_path))
        throw InputError("--resume: " + dir.string() +
                         " holds no config.json (expected a directory written by cudarts "
                         "hpsearch)");
    const std::string text = read_text(config_path);
    HpSearchConfig config = parse_hpsearch_config(text, config_path.string());
    check_trial_flags(config, config_path.string());
    if (args.count("trials")) {
        config.trials = args["trials"].as<int>();
        if (config.trials < 2)
            throw InputError("--trials: expected 2 or more, got " + std::to_string(config.trials));
    }
    const RunLock lock(dir, resume ? "--resume" : "--out", !resume);
    if (!resume && fs::exists(dir / "config.json"))
        throw InputError("--out: " + dir.string() +
                         " already holds an hpsearch (continue it with --resume " + dir.string() +
                         ", or choose another --out)");
    if (!resume) write_text(dir / "config.json", text);
    fs::create_directories(dir / "trials");
    std::printf(
        "cudarts hpsearch: %d trials of %s over %zu parameters, seed %llu, in %s\n", config.trials,
        config.command == "exec" ? config.exec[0].c_str() : ("cudarts " + config.command).c_str(),
        config.box.size(), static_cast<unsigned long long>(config.seed), dir.c_str());
    std::fflush(stdout);
    const HpObjective objective = [&](int index, const std::vector<double>& values) {
        return config.command == "exec" ? run_exec_trial(config, dir, index, values)
                                        : run_cudarts_trial(config, dir, index, values);
    };
    const std::vector<HpTrial> trials = run_hpsearch(config, dir, objective, stdout);
    std::printf("\n%s", trials_table(config, trials).c_str());
    std::printf("outputs in %s (trials.jsonl, hpsearch.svg)\n", dir.c_str());
    const HpTrial& best = trials.at(best_trial(trials));
    if (!std::isfinite(best.result.valid_loss)) {
        std::printf("every trial diverged or failed\n");
        return 3;
    }
    std::printf("best: trial %d, %s\n", best.index, point_text(config.box, best.values).c_str());
    std::printf("Validation-Loss=%.6f\n", best.result.valid_loss);
    if (std::isfinite(best.result.valid_acc))
        std::printf("Validation-Accuracy=%.4f\n", best.result.valid_acc);
    return 0;
}

}  // namespace cudarts::apps
