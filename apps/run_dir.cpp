// Output-directory helpers shared by search and train; see apps/run_dir.h.
#include "apps/run_dir.h"

#include <cstdlib>
#include <fstream>

#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"

namespace cudarts::apps {

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
    write_file_atomic(path.string(), text.data(), text.size());
}

void MetricsLog::keep_first(int epochs) {
    lines_.clear();
    std::ifstream in(path_);
    for (std::string line; int(lines_.size()) < epochs && std::getline(in, line);)
        if (!line.empty()) lines_.push_back(line);
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
    r.dataset = r.at("dataset");
    r.data = r.at("data");
    try {
        r.subset = std::stoll(r.at("subset"));
    } catch (const std::logic_error&) {
        throw InputError(r.checkpoint + ": metadata 'subset' is not an integer");
    }
    return r;
}

}  // namespace cudarts::apps
