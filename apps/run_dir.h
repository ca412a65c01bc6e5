// What `cudarts search` and `cudarts train` share about their output directory: the lock that
// makes it one run's, the data-set defaults from the environment, atomic text files,
// metrics.jsonl, the metadata a resume reads back from DIR/checkpoint.safetensors (the options
// and the data the run was started with) and the check that a resume changes none of them.
//
// Order of writes after each epoch: the checkpoint first, then the text outputs (metrics.jsonl,
// genotypes), so that a kill between them leaves the text one epoch behind the checkpoint, never
// ahead; a resume completes it from the checkpoint (MetricsLog::resume).
#pragma once

#include <cstdint>
#include <cxxopts.hpp>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/progress.h"
#include "apps/setting_names.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/run/loop.h"

namespace cudarts::apps {

// An exclusive lock on a run directory: flock on DIR/.lock, taken before anything else is written
// and held for the run's life (the kernel releases it when the process dies, however). A second
// process is refused: InputError "<flag>: DIR is in use by another cudarts run (pid N)". `create`
// makes DIR when missing, which is also the up-front check that --out is usable ("--out: cannot
// create DIR (Permission denied)"). Once locked, stale "*.tmp.<pid>" files that a killed run left
// in DIR and DIR/epochs are removed. The destructor removes the lock file, and DIR itself when this
// lock created it and the run left it empty (a refused input leaves nothing behind).
class RunLock {
public:
    RunLock(const std::filesystem::path& dir, const std::string& flag, bool create);
    ~RunLock();
    RunLock(const RunLock&) = delete;
    RunLock& operator=(const RunLock&) = delete;

private:
    std::filesystem::path dir_;
    int fd_ = -1;
    bool created_ = false;
};

// The directory flags of a run command, at the end of `group`: --out DIR (default `out_default`),
// --resume DIR ("continue <run> in this directory", `run` e.g. "the search") and --print-step.
void add_output_flags(cxxopts::Options& opts, const std::string& group,
                      const std::string& out_default, const std::string& run);

// A run's output directory: --resume DIR continues the run there (refuse_new_run_flags first, with
// `new_run_flags`), otherwise --out DIR starts one, and a DIR that already holds a checkpoint is
// refused: "--out: DIR already holds a search (continue it with --resume DIR, or choose another
// --out)", with `holds` naming the run ("a search"). Locked for the object's life.
struct RunDirectory {
    RunDirectory(const cxxopts::ParseResult& args, std::initializer_list<const char*> new_run_flags,
                 const std::string& holds);
    bool resume;
    std::filesystem::path dir;
    RunLock lock;
    std::filesystem::path checkpoint;  // DIR/checkpoint.safetensors
};

// --preset: "auto" is cpu-small on a CPU and paper on a GPU; any name but those is refused.
std::string chosen_preset(const std::string& preset, bool cpu);

// InputError "<flag>: the path is not valid UTF-8 ..." unless `path` is UTF-8: checkpoints keep
// paths in their JSON header, which holds UTF-8 only, so such a run could never save.
void require_utf8_path(const std::string& path, const std::string& flag);

// The environment variable's value, or `fallback` when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback);

// Replaces `path` with `text` atomically (temp file, then rename).
void write_text(const std::filesystem::path& path, const std::string& text);

// A run's metrics.jsonl: one JSON object per epoch, the whole file rewritten atomically on append.
class MetricsLog {
public:
    explicit MetricsLog(std::filesystem::path path) : path_(std::move(path)) {}
    // On resume after `epochs` epochs: keeps the file's first `epochs` lines (an older version may
    // have written more) and, when the file is one line short (killed between the checkpoint and
    // the text outputs), appends `last_line`, the checkpoint's copy of the last epoch's line.
    void resume(int epochs, const std::string& last_line);
    void append(const std::string& json_line);

private:
    std::filesystem::path path_;
    std::vector<std::string> lines_;
};

// The data a run trains on, as its checkpoint's metadata records them.
struct RunData {
    std::string dataset, data;  // --dataset and --data (defaults: CUDARTS_DATASET, CUDARTS_DATA)
    int64_t subset = 0;         // --subset: the first N images (0 = all)
    // train's --valid-portion: the last fraction of those training images held out as the
    // validation split (0 = none, validation on the test split as the reference does). Recorded
    // only when set, so the other commands' checkpoints and comparisons do not carry it.
    double valid_portion = 0;

    static RunData from_environment();  // fashion-mnist and Debian's copy when unset
    // --dataset, --data and --subset where given; the same directory spelled another way keeps
    // the recorded spelling. --data must be UTF-8 (require_utf8_path).
    void apply_flags(const cxxopts::ParseResult& args);
    void add_to(nlohmann::json& j) const;         // the keys refuse_changed_settings compares
    static void name_flags(SettingNames& names);  // ... and the flags that set them
    std::map<std::string, std::string> metadata() const;  // for the checkpoint
};

// The training and test splits of a data set, each cut to its first `subset` images when
// subset > 0 (InputError for subset < 0).
std::pair<ImageDataset, ImageDataset> load_splits(const std::string& dataset,
                                                  const std::string& dir, int64_t subset);

// The last `portion` of `train` as a validation split, removed from `train`; InputError naming
// --valid-portion when either part would be empty.
ImageDataset hold_out(ImageDataset& train, double portion);

// The metadata of DIR/checkpoint.safetensors that a resume needs; InputError naming the file when
// it is missing or lacks a key, or when its options are not a JSON object (engine/json's bounded
// parse). `command` names who writes such directories ("search", "train"). The options' own
// messages name them metadata_name(checkpoint, "options") (models/nn/checkpoint.h).
struct ResumeInfo {
    std::map<std::string, std::string> metadata;
    nlohmann::json options;
    RunData data;
    const std::string& at(const std::string& key) const;  // metadata[key] or InputError
    std::string checkpoint;
    // The checkpoint's copy of its epoch's metrics.jsonl line ("" in an older checkpoint).
    std::string last_metrics() const;
};
ResumeInfo read_resume_info(const std::filesystem::path& checkpoint, const std::string& command);

// What a run is started with: its options (SearchOptions, TrainRecipe) and its data.
template <class Options>
struct RunInput {
    Options options;
    RunData data;
    nlohmann::json to_json() const {  // the form refuse_changed_settings compares
        nlohmann::json j = options.to_json();
        data.add_to(j);
        return j;
    }
};

// On --resume: `requested` is the run's saved options (as JSON) with the flags the user gave
// applied over them. A flag that changes a setting other than "epochs" (the one setting a resume
// may extend) is refused, naming it by `names`: InputError "--learning-rate: 0.1 conflicts with
// the run's 0.025 (a resumed run keeps its settings; only --epochs may change)". A flag given
// with the run's own value is accepted.
void refuse_changed_settings(const nlohmann::json& saved, const nlohmann::json& requested,
                             const SettingNames& names);

// On --resume: the run's saved settings, checked against the flags the user gave (`apply` sets
// them on a RunInput, as for a new run) by refuse_changed_settings; --epochs alone is taken.
template <class Options, class Apply>
RunInput<Options> resumed_input(const ResumeInfo& saved, const Apply& apply,
                                const SettingNames& names) {
    RunInput<Options> in{
        Options::from_json(saved.options, metadata_name(saved.checkpoint, "options")), saved.data};
    RunInput<Options> requested = in;
    apply(requested);
    refuse_changed_settings(in.to_json(), requested.to_json(), names);
    in.options.epochs = requested.options.epochs;  // may extend a run
    return in;
}

// On --resume: InputError for a flag in `new_run_flags` (those that choose a new run's settings,
// e.g. "preset") or an --out other than the resumed directory `dir`.
void refuse_new_run_flags(const cxxopts::ParseResult& args,
                          std::initializer_list<const char*> new_run_flags,
                          const std::filesystem::path& dir);

// The end of an epoch on disk, in the order a resume relies on: `loop`'s checkpoint, whose metadata
// holds the run's data, `extra` and the epoch's metrics line (`metrics`, one JSON object), then
// the text outputs `write_text_outputs` writes (genotypes; may be empty), then the line appended
// to metrics.jsonl.
template <class Loop, class TextOutputs>
void save_epoch(const Loop& loop, const std::filesystem::path& checkpoint, const RunData& data,
                const nlohmann::json& metrics, MetricsLog& log,
                std::map<std::string, std::string> extra, const TextOutputs& write_text_outputs) {
    const std::string line = metrics.dump();
    extra.merge(data.metadata());
    extra["metrics"] = line;
    loop.save(checkpoint.string(), extra);
    write_text_outputs();
    log.append(line);
}

// A DivergedError from `command`'s epoch, re-thrown with the command and the state on disk:
// "search: <what> at epoch 2 step 4 (lr 5e+08); last good checkpoint: DIR/checkpoint.safetensors".
[[noreturn]] void rethrow_diverged(const std::string& command, const std::exception& diverged,
                                   const std::filesystem::path& checkpoint);

// One epoch of `loop` (a Search or a Trainer) under `progress`, its result returned; a divergence
// ends the run through rethrow_diverged, naming `command` and the last good checkpoint.
template <class Loop>
auto run_shown_epoch(Loop& loop, Progress& progress, int epochs, const std::string& command,
                     const std::filesystem::path& checkpoint) {
    progress.start_epoch(loop.epoch(), epochs, loop.steps_per_epoch());
    try {
        auto m = loop.run_epoch([&](const StepInfo& s) { progress.step(s.step, s.loss, s.acc); });
        progress.end_epoch();
        return m;
    } catch (const DivergedError& d) {
        progress.end_epoch();
        rethrow_diverged(command, d, checkpoint);
    }
}

}  // namespace cudarts::apps
