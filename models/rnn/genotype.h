// Recurrent DARTS genotypes (reference/darts.md 7.1 and 7.6): the discrete recurrent cell a search
// hands to training. Node i (0-based, steps nodes in all) reads one earlier state: input 0 is s0
// (the cell's first state, from x_t and h_{t-1}), j >= 1 is node j - 1; its op is the activation
// of the highway update s_{i+1} = s_pred + c * (act(h) - s_pred). The cell's output is the mean
// of the states listed in concat (the reference: range(1, 9), every node, s0 excluded).
//
// Derivation from softmax(alpha) (steps(steps+1)/2 rows over kRnnPrimitives, node i's rows
// i(i+1)/2 .. i(i+1)/2 + i): per node the single predecessor whose strongest non-`none`
// probability is largest (a stable sort: ties keep the lower j), then its argmax op over the
// non-`none` columns (strict >, the lowest column wins ties).
//
// Text: the reference's Python repr, Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ...],
// concat=range(1, 9)), and JSON {"recurrent": [["sigmoid", 0], ...], "concat": [1, ..., 8]};
// parsing accepts either (an optional NAME= prefix, either quote, concat as range or list) and
// validates every gene, so a bad --genotype fails with one line before a model is built.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cudarts {

// The recurrent search space in α column order (genotypes.py's PRIMITIVES of rnn/).
inline constexpr std::array<const char*, 5> kRnnPrimitives = {"none", "tanh", "relu", "sigmoid",
                                                              "identity"};
static_assert(kRnnPrimitives.size() == 5, "kernels/rnn_cell.h's kRnnEdgeLogits and RnnAct order");
constexpr int kRnnMaxSteps = 16;  // the reference's cell has 8 nodes

struct RecurrentGene {
    std::string op;  // tanh, relu, sigmoid or identity
    int input = 0;   // 0 = s0, j >= 1 = node j - 1
    bool operator==(const RecurrentGene&) const = default;
};

struct RecurrentGenotype {
    std::vector<RecurrentGene> recurrent;  // one per node
    std::vector<int> concat;               // states averaged into the output (0 = s0)
    bool concat_as_range = true;           // print range(1, 9) (the reference) or a list
    int steps() const { return int(recurrent.size()); }
    bool operator==(const RecurrentGenotype& o) const {
        return recurrent == o.recurrent && concat == o.concat;
    }
};

// α rows of a search cell with `steps` nodes: 1 + 2 + ... + steps (36 for 8).
constexpr int rnn_edges_for(int steps) { return steps * (steps + 1) / 2; }

// From raw alpha logits (rnn_edges_for(steps) x kRnnPrimitives.size(), row-major); softmax and
// strengths in double. concat = range(1, steps + 1). Error (a caller bug) on non-finite alphas.
RecurrentGenotype derive_recurrent_genotype(const float* alpha, int steps);

std::string to_darts_string(const RecurrentGenotype& g);
nlohmann::json to_json(const RecurrentGenotype& g);
// From the JSON above (concat optional, default range(1, steps + 1); an object whose "genotype"
// member holds one is unwrapped). InputError naming `what` on any problem.
RecurrentGenotype recurrent_genotype_from_json(const nlohmann::json& j, const std::string& what);
// Either form, auto-detected. InputError "<what>: expected a genotype like
// Genotype(recurrent=[('sigmoid', 0), ...], concat=range(1, 9)): <problem> at character N".
// Validated: 1..kRnnMaxSteps genes, ops among the four activations, node i's input in 0..i,
// concat entries in 0..steps without repeats.
RecurrentGenotype parse_recurrent_genotype(const std::string& text,
                                           const std::string& what = "genotype");

// DARTS_V1, DARTS_V2 and DARTS (= DARTS_V2) of rnn/genotypes.py; unknown -> nullopt.
std::optional<RecurrentGenotype> builtin_recurrent_genotype(const std::string& name);
// A --genotype argument: a built-in name, else a file holding either form, else the literal text.
RecurrentGenotype resolve_recurrent_genotype(const std::string& arg);

}  // namespace cudarts
