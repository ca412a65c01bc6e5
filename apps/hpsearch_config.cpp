// The config of `cudarts hpsearch` and the check of its flags against the trial command; see
// apps/hpsearch.h.
#include <algorithm>
#include <cctype>
#include <cxxopts.hpp>
#include <set>

#include "apps/hpsearch.h"
#include "apps/hpsearch_parts.h"
#include "apps/subcommands.h"
#include "engine/format.h"
#include "engine/json.h"
#include "kernels/check.h"
#include "models/nn/setting.h"

namespace cudarts::apps {

namespace hpsearch_parts {

// "<what>: <key>: <problem>", the one line every config error is.
[[noreturn]] void refuse(const std::string& what, const std::string& key,
                         const std::string& problem) {
    throw InputError(what + ": " + key + ": " + problem);
}

void refuse_unknown_keys(const nlohmann::json& obj, const std::string& what, const std::string& at,
                         std::initializer_list<const char*> known) {
    const std::optional<std::string> key = unknown_key(obj, known);
    if (!key) return;
    const std::string quoted = "'" + quote_input(*key) + "'";
    const std::string expected = " (expected one of " + name_list(known) + ")";
    if (at.empty()) refuse(what, quoted, "unknown key" + expected);
    refuse(what, at, "unknown key " + quoted + expected);
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

}  // namespace hpsearch_parts

namespace {

using namespace hpsearch_parts;

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

}  // namespace

std::string flag_value(const HyperParameter& p, double v) {
    if (p.integer) return std::to_string(std::llround(v));
    return format_number("%.6g", v);
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

}  // namespace cudarts::apps
