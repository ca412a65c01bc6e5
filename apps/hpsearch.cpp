// `cudarts hpsearch`: the command, its trials (cudarts train or search in a child process, or any
// program) and the run loop with its trials.jsonl; see apps/hpsearch.h. The config is read in
// apps/hpsearch_config.cpp, the table and the SVG are drawn in apps/hpsearch_report.cpp.
#include "apps/hpsearch.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cxxopts.hpp>
#include <sstream>
#include <stdexcept>

#include "apps/hpsearch_parts.h"
#include "apps/run_dir.h"
#include "apps/subcommands.h"
#include "engine/fileio.h"
#include "engine/format.h"
#include "engine/json.h"
#include "kernels/check.h"

namespace fs = std::filesystem;

namespace cudarts::apps {

namespace {

using namespace hpsearch_parts;

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
// status, or 128 + the signal that ended it. `search_path`: look the program up in PATH. The child
// asks the kernel (Linux's PR_SET_PDEATHSIG) for SIGKILL when the thread that started it ends, so
// a trial dies with an hpsearch killed even by SIGKILL instead of running on orphaned. InputError
// "exec: cannot start 'PROGRAM' (<errno's text>)" when the log cannot be opened or the program
// not started.
int spawn_logged(const std::vector<std::string>& args, const fs::path& log_path, bool search_path) {
    // Everything the child needs is made before fork: from fork to exec it may only make
    // async-signal-safe calls (another thread may hold the allocator's lock).
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string log = log_path.string();
    const pid_t parent = getpid();
    int report[2];  // the child writes its errno here if it cannot start; exec closes it
    if (pipe2(report, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) {
        const int err = errno;
        close(report[0]);
        close(report[1]);
        throw std::runtime_error(std::string("fork: ") + std::strerror(err));
    }
    if (pid == 0) {
        close(report[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);  // hpsearch ended before the request was made
        const int in = open("/dev/null", O_RDONLY);
        const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in >= 0 && out >= 0 && dup2(in, 0) >= 0 && dup2(out, 1) >= 0 && dup2(1, 2) >= 0) {
            if (in > 2) close(in);
            if (out > 2) close(out);
            if (search_path)
                execvp(argv[0], argv.data());
            else
                execv(argv[0], argv.data());
        }
        const int err = errno;
        (void)!write(report[1], &err, sizeof err);
        _exit(127);
    }
    close(report[1]);
    int err = 0;
    ssize_t got = 0;
    do got = read(report[0], &err, sizeof err);
    while (got < 0 && errno == EINTR);
    close(report[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    if (got == static_cast<ssize_t>(sizeof err))  // exec did not happen
        throw InputError("exec: cannot start '" + quote_input(args[0]) + "' (" +
                         std::strerror(err) + ")");
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

std::vector<HpEvaluation> evaluations(std::span<const HpTrial> trials) {
    std::vector<HpEvaluation> history;
    for (const HpTrial& t : trials) history.push_back({t.values, t.result.valid_loss});
    return history;
}

size_t best_trial(const std::vector<HpTrial>& trials) {
    if (trials.size() == 1) return 0;
    return WeightedRandomSearch::two_best(evaluations(trials)).first;
}

std::vector<HpTrial> run_hpsearch(const HpSearchConfig& config, const fs::path& dir,
                                  const HpObjective& objective, std::FILE* log) {
    WeightedRandomSearch search(config.box, config.seed);
    const fs::path jsonl = dir / "trials.jsonl";
    std::vector<HpTrial> trials = read_trials(jsonl, config.box);
    // Replay: each finished trial's proposal from the trials before it, so the generator ends
    // where the killed run left it.
    for (size_t i = 0; i < trials.size(); ++i) {
        const HpTrial& t = trials[i];
        const std::vector<double> expected =
            search.propose(evaluations(std::span<const HpTrial>(trials).first(i)));
        if (expected != t.values)
            throw InputError(jsonl.string() + ": trial " + std::to_string(t.index) + " (" +
                             point_text(config.box, t.values) +
                             ") does not follow from config.json and its seed (expected " +
                             point_text(config.box, expected) + ")");
    }
    if (!trials.empty())
        std::fprintf(log, "resuming: %zu of %d trials finished\n", trials.size(), config.trials);
    for (int k = static_cast<int>(trials.size()); k < config.trials; ++k) {
        HpTrial t;
        t.index = k;
        t.values = search.propose(evaluations(trials));
        std::fprintf(log, "trial %d/%d: %s%s\n", k + 1, config.trials,
                     point_text(config.box, t.values).c_str(),
                     k < 2 ? " (fixed, on the diagonal)" : "");
        std::fflush(log);
        const auto start = std::chrono::steady_clock::now();
        t.result = objective(k, t.values);
        t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        trials.push_back(t);
        std::string lines;
        for (const HpTrial& done : trials) lines += trial_json(config.box, done).dump() + "\n";
        write_text(jsonl, lines);
        write_text(dir / "hpsearch.svg", hpsearch_svg(trials));
        std::fprintf(log, "trial %d/%d: valid_loss %s valid_acc %s %s (%.1f s)\n", k + 1,
                     config.trials, format_number("%.4f", t.result.valid_loss).c_str(),
                     format_number("%.4f", t.result.valid_acc).c_str(), t.result.status.c_str(),
                     t.seconds);
        std::fflush(log);
    }
    return trials;
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
