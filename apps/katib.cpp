// Katib trial inputs (apps/katib.h). Numbers are parsed with std::from_chars, which ignores the
// locale, so a trial container with a German LC_NUMERIC still reads 0.025.
#include "apps/katib.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "engine/json.h"
#include "kernels/check.h"
#include "models/darts/genotype.h"

namespace cudarts {

namespace {

// Removes one pair of `q` around s, if both ends have one.
std::string strip_quotes(const std::string& s, char q) {
    if (s.size() >= 2 && s.front() == q && s.back() == q) return s.substr(1, s.size() - 2);
    return s;
}

// Trims and drops one leading '+' (Python accepts it, from_chars does not); false when nothing
// is left or a second sign follows.
bool number_text(const std::string& text, std::string& t) {
    t = trim(text);
    if (!t.empty() && t[0] == '+') {
        t.erase(0, 1);
        if (!t.empty() && (t[0] == '+' || t[0] == '-')) return false;
    }
    return !t.empty();
}

// Python int() on text: optional spaces and sign, then decimal digits only.
bool python_int(const std::string& text, long long& out) {
    std::string t;
    if (!number_text(text, t)) return false;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc() && end == t.data() + t.size();
}

[[noreturn]] void setting_fail(const std::string& key, const std::string& text,
                               const std::string& expected) {
    throw InputError("--algorithm-settings: " + quote_input(key) + " is '" + quote_input(text) +
                     "'; expected " + expected);
}

const std::string* find_setting(const std::map<std::string, std::string>& s,
                                const std::string& key) {
    const auto it = s.find(key);
    return it == s.end() ? nullptr : &it->second;
}

}  // namespace

nlohmann::json parse_katib_json(const std::string& arg, const std::string& flag) {
    std::string text = strip_quotes(arg, '"');
    std::replace(text.begin(), text.end(), '\'', '"');
    const std::string like =
        flag == "--algorithm-settings" ? "a JSON object like {'num_epochs': '3', ...}"
        : flag == "--search-space"     ? "a JSON list like ['separable_convolution_3x3', ...]"
                                       : "JSON in single or double quotes";
    return parse_json(text, flag, like);  // bounded depth and quoting: the text is the user's
}

std::map<std::string, std::string> parse_algorithm_settings(const std::string& arg) {
    const nlohmann::json j = parse_katib_json(arg, "--algorithm-settings");
    if (!j.is_object())
        throw InputError(
            "--algorithm-settings: expected a JSON object like {'num_epochs': '3', ...}, got " +
            std::string(j.type_name()));
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : j.items()) {
        if (value.is_null()) continue;  // Katib's None: the default applies
        if (value.is_string())
            out[key] = value.get<std::string>();
        else if (value.is_number() || value.is_boolean())
            out[key] = value.dump();
        else
            setting_fail(key, value.dump(), "a number or a string");
    }
    return out;
}

int katib_int(const std::map<std::string, std::string>& s, const std::string& key, int def) {
    const std::string* text = find_setting(s, key);
    if (!text) return def;
    long long v = 0;
    if (!python_int(*text, v)) setting_fail(key, *text, "an integer like '3'");
    if (v < -2147483647LL || v > 2147483647LL) setting_fail(key, *text, "a smaller integer");
    return int(v);
}

double katib_float(const std::map<std::string, std::string>& s, const std::string& key,
                   double def) {
    const std::string* text = find_setting(s, key);
    if (!text) return def;
    // from_chars would take "inf", "nan" and hex digits; Python's float() has no hex, and a
    // learning rate of nan is never meant.
    std::string t;
    const bool plain =
        number_text(*text, t) && t.find_first_not_of("0123456789.eE+-") == std::string::npos;
    double v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (!plain || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v))
        setting_fail(key, *text, "a number like '0.025' or '3e-4'");
    return v;
}

bool katib_bool(const std::map<std::string, std::string>& s, const std::string& key, bool def) {
    const std::string* text = find_setting(s, key);
    if (!text) return def;
    std::string t = trim(*text);
    std::transform(t.begin(), t.end(), t.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (t == "true" || t == "1") return true;
    if (t == "false" || t == "0") return false;
    setting_fail(key, *text, "true or false");
}

const std::vector<std::string>& known_katib_settings() {
    static const std::vector<std::string> keys = {
        // katib.md 1.4
        "num_epochs", "w_lr", "w_lr_min", "w_momentum", "w_weight_decay", "w_grad_clip", "alpha_lr",
        "alpha_weight_decay", "batch_size", "num_workers", "init_channels", "print_step",
        "num_nodes", "stem_multiplier",
        // cudarts' own (Katib forwards unknown keys)
        "first_order", "seed", "train_portion"};
    return keys;
}

std::vector<std::string> unknown_katib_settings(const std::map<std::string, std::string>& s) {
    const std::vector<std::string>& known = known_katib_settings();
    std::vector<std::string> out;
    for (const auto& [key, value] : s)
        if (std::find(known.begin(), known.end(), key) == known.end()) out.push_back(key);
    return out;
}

std::vector<std::string> parse_search_space(const std::string& arg) {
    const nlohmann::json j = parse_katib_json(arg, "--search-space");
    const std::string like = "expected a JSON list like ['separable_convolution_3x3', ...]";
    if (!j.is_array() || j.empty())
        throw InputError("--search-space: " + like + ", got " +
                         (j.is_array() ? std::string("an empty list") : j.dump()));
    std::vector<std::string> out;
    for (const nlohmann::json& e : j) {
        if (!e.is_string()) throw InputError("--search-space: " + like + ", got " + e.dump());
        std::string name;
        try {
            name = official_primitive(e.get<std::string>());
        } catch (const InputError& err) {
            throw InputError(std::string("--search-space: ") + err.what());
        }
        if (std::find(out.begin(), out.end(), name) != out.end())
            throw InputError("--search-space: '" + e.get<std::string>() + "' is listed twice");
        out.push_back(name);
    }
    if (std::find(out.begin(), out.end(), "none") == out.end()) out.push_back("none");
    if (out.size() == 1)
        throw InputError("--search-space: needs at least one primitive other than 'none'");
    return out;
}

int parse_num_layers(const std::string& arg) {
    const std::string t = trim(strip_quotes(strip_quotes(trim(arg), '"'), '\''));
    long long v = 0;
    if (!python_int(t, v) || v < 1 || v > 100000)
        throw InputError("--num-layers: expected a positive integer like 3, got '" +
                         quote_input(arg) + "'");
    return int(v);
}

}  // namespace cudarts
