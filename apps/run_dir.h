// What `cudarts search` and `cudarts train` share about their output directory: the data-set
// defaults from the environment, atomic text files, metrics.jsonl, and the metadata a resume reads
// back from DIR/checkpoint.safetensors (the options and the data the run was started with).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cudarts::apps {

// The environment variable's value, or `fallback` when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback);

// Replaces `path` with `text` atomically (temp file, then rename).
void write_text(const std::filesystem::path& path, const std::string& text);

// A run's metrics.jsonl: one JSON object per epoch, the whole file rewritten atomically on append.
class MetricsLog {
public:
    explicit MetricsLog(std::filesystem::path path) : path_(std::move(path)) {}
    // On resume: keeps the file's first `epochs` lines (a killed run may have written more).
    void keep_first(int epochs);
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

}  // namespace cudarts::apps
