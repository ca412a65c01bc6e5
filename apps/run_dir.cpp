// Output-directory helpers shared by search and train; see apps/run_dir.h.
#include "apps/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxopts.hpp>
#include <fstream>

#include "engine/fileio.h"
#include "engine/format.h"
#include "engine/json.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"

namespace cudarts::apps {

namespace fs = std::filesystem;

namespace {

// "name.tmp.<digits>": what write_file_atomic leaves behind when its process is killed.
bool is_stale_temp(const std::string& name) {
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at == 0 || at + 5 == name.size()) return false;
    for (size_t i = at + 5; i < name.size(); ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    return true;
}

void remove_stale_temps(const fs::path& dir) {
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec) && is_stale_temp(e.path().filename().string()))
            fs::remove(e.path(), ec);
}

}  // namespace

RunLock::RunLock(const fs::path& dir, const std::string& flag, bool create) : dir_(dir) {
    if (dir.empty()) throw InputError(flag + ": expected a directory, got ''");
    std::error_code ec;
    if (create && !fs::exists(dir, ec)) {
        created_ = fs::create_directories(dir, ec);
        if (ec)
            throw InputError(flag + ": cannot create " + dir.string() + " (" + ec.message() + ")");
    }
    if (!fs::is_directory(dir, ec))
        throw InputError(flag + ": " + dir.string() +
                         (fs::exists(dir, ec) ? " is not a directory" : " does not exist"));
    const fs::path lock = dir / ".lock";
    // The lock file may be unlinked by the run that held it (its destructor) between our open and
    // our flock; a lock on an unlinked file guards nothing, so check and retry.
    for (;;) {
        fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0)
            throw InputError(flag + ": " + dir.string() + " is not writable (" +
                             std::strerror(errno) + ")");
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            char pid[32] = {0};
            const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
            ::close(fd_);
            fd_ = -1;
            if (err != EWOULDBLOCK)
                throw InputError(flag + ": cannot lock " + lock.string() + " (" +
                                 std::strerror(err) + ")");
            const std::string holder = n > 0 ? std::string(pid, size_t(n)) : std::string();
            throw InputError(flag + ": " + dir.string() + " is in use by another cudarts run" +
                             (holder.empty() ? std::string() : " (pid " + holder + ")"));
        }
        struct stat held {
        }, now{};
        if (::fstat(fd_, &held) == 0 && ::stat(lock.c_str(), &now) == 0 &&
            held.st_ino == now.st_ino && held.st_dev == now.st_dev)
            break;
        ::close(fd_);
        fd_ = -1;
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
        // The pid is for the message a second run prints; the lock holds without it.
    }
    remove_stale_temps(dir);
    if (fs::is_directory(dir / "epochs", ec)) remove_stale_temps(dir / "epochs");
}

RunLock::~RunLock() {
    if (fd_ < 0) return;
    std::error_code ec;
    fs::remove(dir_ / ".lock", ec);  // while still held: a waiting run retries on a fresh file
    ::close(fd_);
    if (created_) {  // nothing but an empty epochs/ left: the run wrote nothing
        fs::remove(dir_ / "epochs", ec);  // only if empty
        fs::remove(dir_, ec);             // only if empty
    }
}

void require_utf8_path(const std::string& path, const std::string& flag) {
    const auto* p = reinterpret_cast<const unsigned char*>(path.data());
    const size_t n = path.size();
    for (size_t i = 0; i < n;) {
        const unsigned char c = p[i];
        const size_t len = c < 0x80         ? 1
                           : (c >> 5) == 6  ? 2
                           : (c >> 4) == 14 ? 3
                           : (c >> 3) == 30 ? 4
                                            : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && len == 2) ok = c >= 0xC2;  // no overlong forms
        if (ok && len == 3)
            ok = !(c == 0xE0 && p[i + 1] < 0xA0) &&  // overlong
                 !(c == 0xED && p[i + 1] >= 0xA0);   // surrogates
        if (ok && len == 4)
            ok = !(c == 0xF0 && p[i + 1] < 0x90) && c <= 0xF4 &&
                 !(c == 0xF4 && p[i + 1] >= 0x90);  // beyond U+10FFFF
        if (!ok)
            throw InputError(flag + ": the path " + quote_input(path) +
                             " is not valid UTF-8 at byte " + std::to_string(i) +
                             " (expected a UTF-8 path: the checkpoint records it as JSON text)");
        i += len;
    }
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
    write_file_atomic(path.string(), text.data(), text.size());
}

void MetricsLog::resume(int epochs, const std::string& last_line) {
    lines_.clear();
    std::ifstream in(path_);
    for (std::string line; int(lines_.size()) < epochs && std::getline(in, line);)
        if (!line.empty()) lines_.push_back(line);
    in.close();
    if (int(lines_.size()) == epochs - 1 && !last_line.empty()) append(last_line);
}

void MetricsLog::append(const std::string& json_line) {
    lines_.push_back(json_line);
    std::string text;
    for (const std::string& l : lines_) text += l + "\n";
    write_text(path_, text);
}

const std::string& ResumeInfo::at(const std::string& key) const {
    const auto it = metadata.find(key);
    if (it == metadata.end())
        throw InputError(checkpoint + ": no metadata '" + key +
                         "' (expected a checkpoint written by cudarts)");
    return it->second;
}

std::string ResumeInfo::last_metrics() const {
    const auto it = metadata.find("metrics");
    return it == metadata.end() ? std::string() : it->second;
}

ResumeInfo read_resume_info(const std::filesystem::path& checkpoint, const std::string& command) {
    if (!std::filesystem::exists(checkpoint))
        throw InputError("--resume: " + checkpoint.string() +
                         " does not exist (expected a "
                         "directory written by cudarts " +
                         command + ")");
    ResumeInfo r;
    r.checkpoint = checkpoint.string();
    const SafetensorsFile f = read_safetensors(r.checkpoint);
    r.metadata = f.metadata;
    (void)r.at("options");  // absent: named as the other keys are
    r.options = checkpoint_json(f, "options");
    r.data.dataset = r.at("dataset");
    r.data.data = r.at("data");
    try {
        r.data.subset = std::stoll(r.at("subset"));
    } catch (const std::logic_error&) {
        throw InputError(r.checkpoint + ": metadata 'subset' is not an integer");
    }
    if (const auto v = r.metadata.find("valid_portion"); v != r.metadata.end()) {
        const nlohmann::json p = nlohmann::json::parse(v->second, nullptr, false);
        if (!p.is_number() || !(p.get<double>() > 0 && p.get<double>() < 1))
            throw InputError(r.checkpoint +
                             ": metadata 'valid_portion' is not a fraction in (0, 1)");
        r.data.valid_portion = p.get<double>();
    }
    return r;
}

}  // namespace cudarts::apps

namespace cudarts::apps {

namespace {
// A setting's value as a user would type it: floats in %g (0.025, not 0.02500000037252903).
std::string shown(const nlohmann::json& v) {
    if (v.is_number_float()) return short_number(v.get<double>());
    if (v.is_string()) return "'" + quote_input(v.get<std::string>()) + "'";
    return quote_json(v);
}
}  // namespace

RunData RunData::from_environment() {
    return {.dataset = env_or("CUDARTS_DATASET", "fashion-mnist"),
            .data = env_or("CUDARTS_DATA", ""),
            .subset = 0};
}

void RunData::apply_flags(const cxxopts::ParseResult& args) {
    if (args.count("subset")) {
        subset = args["subset"].as<int64_t>();
        if (subset < 0)
            throw InputError("--subset: expected 0 or more, got " + std::to_string(subset));
    }
    if (args.count("dataset")) dataset = args["dataset"].as<std::string>();
    if (args.count("data")) {
        const std::string dir = args["data"].as<std::string>();
        std::error_code ec;
        if (dir != data && !(fs::exists(dir, ec) && fs::equivalent(dir, data, ec))) data = dir;
    }
    require_utf8_path(data, "--data");
    if (args.count("valid-portion")) {
        valid_portion = args["valid-portion"].as<double>();
        if (!(valid_portion >= 0 && valid_portion < 1))
            throw InputError("--valid-portion: expected a fraction in [0, 1), got " +
                             nlohmann::json(valid_portion).dump());
    }
}

void RunData::add_to(nlohmann::json& j) const {
    j["dataset"] = dataset;
    j["data"] = data;
    j["subset"] = subset;
    if (valid_portion > 0) j["valid_portion"] = valid_portion;
}

void RunData::name_flags(SettingNames& names) {
    names["dataset"] = "--dataset";
    names["data"] = "--data";
    names["subset"] = "--subset";
    names["valid_portion"] = "--valid-portion";
}

std::map<std::string, std::string> RunData::metadata() const {
    std::map<std::string, std::string> m = {
        {"dataset", dataset}, {"data", data}, {"subset", std::to_string(subset)}};
    if (valid_portion > 0) m["valid_portion"] = nlohmann::json(valid_portion).dump();
    return m;
}

void refuse_new_run_flags(const cxxopts::ParseResult& args,
                          std::initializer_list<const char*> new_run_flags, const fs::path& dir) {
    for (const char* flag : new_run_flags)
        if (args.count(flag))
            throw InputError(std::string("--") + flag +
                             ": starts a new run; --resume continues one with its own settings "
                             "(only --epochs may change)");
    if (args.count("out") && fs::path(args["out"].as<std::string>()) != dir)
        throw InputError("--out: a resumed run writes into its --resume directory " + dir.string());
}

namespace {

// --resume DIR or --out DIR; on resume, the new-run flags are refused before anything is locked.
fs::path run_dir_of(const cxxopts::ParseResult& args,
                    std::initializer_list<const char*> new_run_flags) {
    if (!args.count("resume")) return fs::path(args["out"].as<std::string>());
    const fs::path dir(args["resume"].as<std::string>());
    refuse_new_run_flags(args, new_run_flags, dir);
    return dir;
}

}  // namespace

void add_output_flags(cxxopts::Options& opts, const std::string& group,
                      const std::string& out_default, const std::string& run) {
    // clang-format off
    opts.add_options(group)
        ("out", "output directory (locked while the run lasts)",
         cxxopts::value<std::string>()->default_value(out_default))
        ("resume", "continue " + run + " in this directory (only --epochs may change)",
         cxxopts::value<std::string>())
        ("print-step", "plain progress line every N steps", cxxopts::value<int>()->default_value("50"));
    // clang-format on
}

RunDirectory::RunDirectory(const cxxopts::ParseResult& args,
                           std::initializer_list<const char*> new_run_flags,
                           const std::string& holds)
    : resume(args.count("resume") > 0),
      dir(run_dir_of(args, new_run_flags)),
      lock(dir, resume ? "--resume" : "--out", !resume),
      checkpoint(dir / "checkpoint.safetensors") {
    if (!resume && fs::exists(checkpoint))
        throw InputError("--out: " + dir.string() + " already holds " + holds +
                         " (continue it with --resume " + dir.string() +
                         ", or choose another --out)");
}

std::string chosen_preset(const std::string& preset, bool cpu) {
    if (preset == "auto") return cpu ? "cpu-small" : "paper";
    if (preset != "cpu-small" && preset != "paper")
        throw InputError("--preset: expected auto, cpu-small or paper, got '" + preset + "'");
    return preset;
}

void rethrow_diverged(const std::string& command, const std::exception& diverged,
                      const fs::path& checkpoint) {
    throw DivergedError(command + ": " + diverged.what() + "; " +
                        (fs::exists(checkpoint) ? "last good checkpoint: " + checkpoint.string()
                                                : std::string("no checkpoint was written")));
}

void refuse_changed_settings(const nlohmann::json& saved, const nlohmann::json& requested,
                             const SettingNames& names) {
    for (const auto& [key, value] : requested.items()) {
        if (key == "epochs" || (saved.contains(key) && saved.at(key) == value)) continue;
        const auto it = names.find(key);
        const std::string flag = it == names.end() ? key : it->second;
        throw InputError(flag + ": " + shown(value) + " conflicts with the run's " +
                         (saved.contains(key) ? shown(saved.at(key)) : std::string("default")) +
                         " (a resumed run keeps its settings; only --epochs may change)");
    }
}

std::pair<ImageDataset, ImageDataset> load_splits(const std::string& dataset,
                                                  const std::string& dir, int64_t subset) {
    ImageDataset train = load_dataset(dataset, dir, true), test = load_dataset(dataset, dir, false);
    if (subset < 0) throw InputError("--subset: expected 0 or more, got " + std::to_string(subset));
    if (subset > 0 && subset < train.size()) train = slice(train, 0, subset);
    if (subset > 0 && subset < test.size()) test = slice(test, 0, subset);
    return {std::move(train), std::move(test)};
}

// The last `portion` of `train` as a validation split, removed from `train`; InputError when
// either part would be empty.
ImageDataset hold_out(ImageDataset& train, double portion) {
    const int64_t n = train.size(), k = std::llround(static_cast<double>(n) * portion);
    if (k < 1 || k >= n)
        throw InputError("--valid-portion: " + nlohmann::json(portion).dump() + " of " +
                         std::to_string(n) +
                         " training images leaves a part empty (expected at least one image in "
                         "each)");
    ImageDataset valid = slice(train, n - k, k);
    train = slice(train, 0, n - k);
    return valid;
}

}  // namespace cudarts::apps
