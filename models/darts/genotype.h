// DARTS genotypes: the discrete cell a search hands to evaluation (reference/darts.md section 5,
// reference/katib.md 1.9). A genotype lists, per intermediate node, two (op, input) genes; input 0
// is c_{k-2}, 1 is c_{k-1}, j >= 2 is node j-2. Derivation takes softmax(alpha) row by row, ranks
// each incoming edge by its strongest non-`none` op, keeps the two strongest (stable: ties keep
// the lower input) and gives each kept edge its argmax op (strict >, lowest column wins ties).
// Katib compares raw logits across edges instead; DeriveRule::kKatibLogits reproduces that.
//
// Three text forms are printed and parsed: the reference's Python repr (flat list, official names,
// `range(2, 6)` or the published `[2, 3, 4, 5]`), Katib's `Best-Genotype=` value (nested per node,
// Katib names, no spaces, `reduce=[]` for a one-cell network) and JSON. Parsing accepts any of
// them, official or Katib names, and validates every gene, so a bad --genotype fails with one
// line before a network is built. Primitive names (official or Katib's) are mapped through the
// table of models/darts/primitives.h.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/darts/primitives.h"

namespace cudarts {

// `s` without leading and trailing whitespace (the genotype and Katib parsers').
std::string trim(const std::string& s);
// A comma-separated --primitives list (official or Katib names, spaces allowed) -> official names
// in the given order. Empty items, unknown names, duplicates and a list with nothing but `none`
// throw InputError naming --primitives.
std::vector<std::string> parse_primitive_list(const std::string& csv);

struct Gene {
    std::string op;  // official name, never "none"
    int input = 0;   // 0 = c_{k-2}, 1 = c_{k-1}, j >= 2 = intermediate node j - 2
    bool operator==(const Gene&) const = default;
};

struct Genotype {
    std::vector<Gene> normal, reduce;  // 2 per node, node i owns entries 2i, 2i+1
    std::vector<int> normal_concat, reduce_concat;
    bool concat_as_range = true;  // print range(2, 6) (search) or [2, 3, 4, 5] (published)
    bool has_reduce = true;       // false: Katib's L = 1 network (printed reduce=[])
    int nodes() const { return int(normal.size()) / 2; }
    bool operator==(const Genotype& o) const;  // genes and concats, not the print flags
};

enum class DeriveRule { kSoftmax, kKatibLogits };

// One cell from raw alpha logits (rows x primitives.size(), row-major); rows must be
// edges_for(nodes). `none` is skipped wherever it sits in `primitives` (official or Katib
// names). Strengths are computed in double, so exactly tied rows stay tied.
std::vector<Gene> derive_cell(const float* alpha, int rows,
                              const std::vector<std::string>& primitives, int nodes,
                              DeriveRule rule = DeriveRule::kSoftmax);
// Both cells; alphas_reduce == nullptr gives has_reduce = false. Concats are range(2, 2 + nodes).
Genotype derive_genotype(const float* alphas_normal, const float* alphas_reduce,
                         const std::vector<std::string>& primitives, int nodes,
                         DeriveRule rule = DeriveRule::kSoftmax);

// The reference's Python repr, e.g. Genotype(normal=[('sep_conv_3x3', 0), ...],
// normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6)). A concat prints as a range
// only when concat_as_range is set and it is consecutive.
std::string to_darts_string(const Genotype& g);
// Katib's form: nested per node, Katib names, no spaces:
// Genotype(normal=[[('max_pooling_3x3',0),('max_pooling_3x3',1)],...],normal_concat=range(2,6),...)
std::string to_katib_string(const Genotype& g);
// {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], "reduce": [...], ...}
nlohmann::json to_json(const Genotype& g);
// The same JSON laid out one field per line, for files a person reads.
std::string to_json_string(const Genotype& g);
// From the JSON above (genes also as Katib's nested lists; concats optional, default
// range(2, 2 + nodes); an object whose "genotype" member holds one is unwrapped). InputError
// naming `what` on any problem.
Genotype genotype_from_json(const nlohmann::json& j, const std::string& what);

// Any of the three forms, auto-detected, whitespace-insensitive, single or double quotes, op names
// official or Katib (stored official), concat as range(a, b) or a list, an optional `NAME=` prefix
// (Best-Genotype=, DARTS_V2 =). InputError "<what>: expected a genotype like Genotype(normal=[...],
// ...): <what went wrong> at character N". Validated: known ops other than none, 2 genes per node,
// node i's inputs in 0..i+1, reduce empty or as many nodes as normal, concat entries in
// 0..nodes+1 without repeats.
Genotype parse_genotype(const std::string& text, const std::string& what = "genotype");

// DARTS_V1, DARTS_V2 and DARTS (= DARTS_V2) as published (concat lists); unknown -> nullopt.
std::optional<Genotype> builtin_genotype(const std::string& name);
// A --genotype argument: a built-in name, else a file holding any form, else the literal text.
// InputError naming the argument (and the file) on failure.
Genotype resolve_genotype(const std::string& arg);

}  // namespace cudarts
