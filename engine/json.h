// JSON from untrusted text (safetensors headers, genotype files, Katib's trial arguments). Every
// problem is one InputError line naming the input, whatever the text holds:
//   - nesting deeper than kMaxJsonDepth is refused while parsing, so neither the parse nor a later
//     dump() or destructor can recurse deep enough to overflow the stack (60,000 nested brackets
//     would);
//   - a number beyond double's range (1e999) is refused rather than escaping as nlohmann's
//     out_of_range, which callers would report as an internal error;
//   - a key repeated within one object is refused (nlohmann would keep the last silently);
//   - input is quoted in messages at most kMaxQuoted characters long, non-printable bytes as '?'.
// unknown_key and name_list serve the readers that refuse keys they do not know.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace cudarts {

constexpr int kMaxJsonDepth = 64;  // cudarts' own files nest 4 levels at most
constexpr size_t kMaxQuoted = 40;  // characters of input quoted in one message

// Parses `text` as one JSON value. Throws InputError "<what> <problem>", e.g.
// "--genotype g.json is not valid JSON (syntax error at byte 17: unexpected end of input)",
// "ckpt.safetensors: header nests deeper than 64 levels", "... holds a number out of range
// ('1e999')", "... has the key 'dtype' twice in one object". `what` names the input
// ("--search-space", "PATH: header"). With `expected` a syntax error reads instead
// "<what>: expected <expected>: <the parser's message>", e.g. "--search-space: expected a JSON
// list like [...]: parse error at line 1, column 2: ...".
nlohmann::json parse_json(std::string_view text, const std::string& what,
                          const std::string& expected = "");

// `text` for a message: non-printable bytes as '?', cut to kMaxQuoted characters plus "...".
std::string quote_input(std::string_view text);

// A parsed value for a message, e.g. a shape entry the caller rejects: quote_input(v.dump()).
// Safe on anything parse_json returned (its depth is bounded).
std::string quote_json(const nlohmann::json& v);

// The first key of `obj` not among `allowed`, in the object's order (nlohmann's: sorted), or
// nullopt when every key is allowed or `obj` is not an object. The key is returned unquoted.
std::optional<std::string> unknown_key(const nlohmann::json& obj,
                                       std::initializer_list<const char*> allowed);

// The names separated by ", " for a message: name_list({"a", "b"}) == "a, b".
std::string name_list(std::initializer_list<const char*> names);

}  // namespace cudarts
