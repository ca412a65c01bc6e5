// The pieces of `cudarts hpsearch` its three files share: apps/hpsearch.cpp (the command, the
// trials and the run loop), apps/hpsearch_config.cpp (the config file and the flag checks) and
// apps/hpsearch_report.cpp (the table and the SVG). Private to apps/hpsearch*.cpp; the interface is
// apps/hpsearch.h.
//
// The field readers check one JSON value of a config or of a trials.jsonl line and throw the one
// line every such error is, InputError "<what>: <key>: <problem>": `what` names the file (and the
// line), `key` the field ("trials", "parameters[0].min").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace cudarts::apps::hpsearch_parts {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

[[noreturn]] void refuse(const std::string& what, const std::string& key,
                         const std::string& problem);

// Refuses a key of `obj` that is not in `known`; `at` is the object's path ("" at the top):
// "<what>: 'k': unknown key (expected one of ...)" at the top, else
// "<what>: <at>: unknown key 'k' (expected one of ...)".
void refuse_unknown_keys(const nlohmann::json& obj, const std::string& what, const std::string& at,
                         std::initializer_list<const char*> known);

double number_at(const nlohmann::json& v, const std::string& what, const std::string& key);
// A whole number in [lo, hi].
int64_t whole_at(const nlohmann::json& v, const std::string& what, const std::string& key,
                 int64_t lo, int64_t hi);
std::string string_at(const nlohmann::json& v, const std::string& what, const std::string& key);

}  // namespace cudarts::apps::hpsearch_parts
