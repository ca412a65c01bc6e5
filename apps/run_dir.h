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
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/setting_names.h"

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

// The metadata of DIR/checkpoint.safetensors that a resume needs; InputError naming the file when
// it is missing or lacks a key, or when its options are not a JSON object (engine/json's bounded
// parse). `command` names who writes such directories ("search", "train"). The options' own
// messages name them metadata_name(checkpoint, "options") (models/nn/checkpoint.h).
struct ResumeInfo {
    std::map<std::string, std::string> metadata;
    nlohmann::json options;
    std::string dataset, data;
    int64_t subset = 0;
    const std::string& at(const std::string& key) const;  // metadata[key] or InputError
    std::string checkpoint;
};
ResumeInfo read_resume_info(const std::filesystem::path& checkpoint, const std::string& command);

// On --resume: `requested` is the run's saved options (as JSON) with the flags the user gave
// applied over them. A flag that changes a setting other than "epochs" (the one setting a resume
// may extend) is refused, naming it by `names`: InputError "--learning-rate: 0.1 conflicts with
// the run's 0.025 (a resumed run keeps its settings; only --epochs may change)". A flag given
// with the run's own value is accepted.
void refuse_changed_settings(const nlohmann::json& saved, const nlohmann::json& requested,
                             const SettingNames& names);

}  // namespace cudarts::apps
