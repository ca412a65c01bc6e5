// Katib's DARTS trial inputs (reference/katib.md 1.2-1.5, 1.10). Katib's suggestion service writes
// --algorithm-settings and --search-space with Python's json.dumps and then swaps every '"' for
// "'", so the trial receives single-quoted JSON such as {'num_epochs': '3', 'w_lr': 0.025}; without
// the pod webhook's `sh -c` the surrounding double quotes stay in the argument too. User values
// arrive as JSON strings, defaults as numbers, and the trial reads them with Python's int() and
// float(), so both spellings work but int('0.5') fails; a user's None arrives as null and here
// means "use the default". Every helper throws InputError naming the flag (and key), so a
// malformed trial fails with exit code 2 before any training starts.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cudarts {

// Strips one surrounding pair of double quotes, replaces every ' by ", parses JSON. InputError
// "<flag>: expected a JSON object like {'num_epochs': '3', ...}: <parser message>" (a list example
// for --search-space).
nlohmann::json parse_katib_json(const std::string& arg, const std::string& flag);

// --algorithm-settings -> key -> value text: strings as they are, numbers and booleans as their
// JSON text, null -> no entry. Must be a JSON object; lists or objects as values are rejected.
std::map<std::string, std::string> parse_algorithm_settings(const std::string& arg);

// Typed getters with Python's int()/float() semantics on the text: surrounding spaces and a sign
// are allowed, int("0.5") and float("abc") throw InputError naming the key and
// --algorithm-settings. A missing key gives `def`. katib_float rejects nan and inf.
int katib_int(const std::map<std::string, std::string>& s, const std::string& key, int def);
double katib_float(const std::map<std::string, std::string>& s, const std::string& key, double def);
// true/false (any case) or 1/0, for cudarts' own switches such as first_order.
bool katib_bool(const std::map<std::string, std::string>& s, const std::string& key, bool def);

// The settings Katib knows (katib.md 1.4) plus cudarts' extras (first_order, seed,
// train_portion).
const std::vector<std::string>& known_katib_settings();
// The keys of `s` that are not known, in key order (the caller warns; Katib forwards them).
std::vector<std::string> unknown_katib_settings(const std::map<std::string, std::string>& s);

// --search-space: a JSON list of Katib or official names -> official names in the given order
// with 'none' appended last (kept where the user put it if listed). Unknown names (e.g.
// max_pooling_5x5), repeats, an empty list and a list of only 'none' throw InputError naming
// --search-space.
std::vector<std::string> parse_search_space(const std::string& arg);

// --num-layers: "3" (optionally in double or single quotes, spaces allowed) -> 3; must be >= 1.
int parse_num_layers(const std::string& arg);

}  // namespace cudarts
