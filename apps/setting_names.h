// The model layer names a bad setting by its own name (models/nn/setting.h); the apps re-word it
// with the input that set it, a flag (`--epochs`) or a Katib key (`--algorithm-settings:
// num_epochs`), so that each user is told about what they typed.
#pragma once

#include <map>
#include <string>

#include "models/nn/setting.h"

namespace cudarts::apps {

using SettingNames = std::map<std::string, std::string>;  // setting -> the input's name

// Calls f(); a SettingError for a setting in `names` becomes InputError "<input>: <detail>", any
// other passes unchanged. Returns what f returns (constructed in place: any type).
template <class F>
decltype(auto) with_input_names(const SettingNames& names, F&& f) {
    try {
        return f();
    } catch (const SettingError& e) {
        const auto it = names.find(e.setting());
        if (it == names.end()) throw;
        throw InputError(it->second + ": " + e.detail());
    }
}

}  // namespace cudarts::apps
