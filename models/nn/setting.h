// Validation of a model's settings. The error names the setting by its own name (`epochs`,
// `w_lr`), not by the flag or Katib key that set it: the apps map the name to their own spelling
// (apps/settings.h), so a Katib trial is told about `num_epochs` and a command line about
// `--epochs`.
#pragma once

#include <string>
#include <type_traits>

#include "kernels/check.h"

namespace cudarts {

// InputError "<setting>: <detail>", with both parts kept for the apps to re-word.
class SettingError : public InputError {
public:
    SettingError(const std::string& setting, const std::string& detail)
        : InputError(setting + ": " + detail), setting_(setting), detail_(detail) {}
    const std::string& setting() const { return setting_; }
    const std::string& detail() const { return detail_; }

private:
    std::string setting_, detail_;
};

// Throws SettingError(setting, "expected <expected>, got <value>") unless ok.
template <class T>
void require(bool ok, const std::string& setting, const std::string& expected, const T& value) {
    if (ok) return;
    if constexpr (std::is_arithmetic_v<T>)
        throw SettingError(setting, "expected " + expected + ", got " + std::to_string(value));
    else
        throw SettingError(setting, "expected " + expected + ", got " + std::string(value));
}

// The settings every image model takes from its data: in_channels >= 1, classes >= 2.
inline void require_image_io(int in_channels, int classes) {
    require(in_channels >= 1, "in_channels", "at least 1", in_channels);
    require(classes >= 2, "classes", "at least 2", classes);
}

// InputError unless maps of map_h x map_w (what `network` makes of height x width images before
// its first halving) halve evenly `times` times, as FactorizedReduce needs: "images of 1x1 do not
// fit a search network: its 2 halvings need even sizes (expected <expected>)".
inline void require_halvable(int height, int width, int map_h, int map_w, int times,
                             const std::string& network, const std::string& expected) {
    const int multiple = 1 << times;
    if (map_h >= multiple && map_w >= multiple && map_h % multiple == 0 && map_w % multiple == 0)
        return;
    throw InputError("images of " + std::to_string(height) + "x" + std::to_string(width) +
                     " do not fit " + network + ": its " + std::to_string(times) +
                     " halvings need even sizes (expected " + expected + ")");
}

}  // namespace cudarts
