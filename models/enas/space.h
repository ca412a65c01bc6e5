// Katib's ENAS search space and trial inputs (reference/katib.md 2.2-2.5): the operations with
// their ids, the architecture encoding, and the `nn_config` a trial receives.
//
// An operation is one of four types with its parameters (2.5's table; a parameter left out takes
// the default there). A search space lists operation types with the values of each parameter; the
// ids are the Cartesian product in listed order, last parameter varying fastest (2.2). An
// architecture has one row per layer: row i (0-based) holds the op id and then i skip bits, bit j
// meaning "layer j also feeds layer i + 1" (layer 0 is the input image).
//
// Unlike Katib's trial, the parameters in `opt_params` are honoured (2.5's quirk). Values arrive as
// strings ("3") or numbers (3); both are read, anything else is an InputError naming the input.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cudarts::enas {

enum class OpType { convolution, separable_convolution, depthwise_convolution, reduction };

struct OpSpec {
    OpType type = OpType::convolution;
    int filter_size = 3;       // convolutions
    int num_filter = 64;       // convolution, separable_convolution
    int stride = 1;            // convolutions
    int depth_multiplier = 1;  // separable and depthwise
    bool max_pool = true;      // reduction: max_pooling or avg_pooling
    int pool_size = 2;         // reduction window
    int pool_stride = 0;       // reduction stride; 0 = pool_size

    int reduction_stride() const { return pool_stride > 0 ? pool_stride : pool_size; }
    // "conv 5x5 x96 /2", "sep 3x3 x64 m2", "dw 7x7 m1 /2", "max 3x3 /3": one short label per op.
    std::string label() const;
    // Katib's embedding entry {"opt_id", "opt_type", "opt_params"} (values as Katib writes them).
    nlohmann::json to_katib(int id) const;
    bool operator==(const OpSpec&) const = default;
};

const char* op_type_name(OpType t);  // "convolution", ...

using Architecture = std::vector<std::vector<int>>;

// What one trial receives: the graph and the ops its architecture uses, by id.
struct NnConfig {
    int num_layers = 0;
    int height = 0, width = 0, channels = 0;  // input_sizes [h, w, c]
    int classes = 0;                          // output_sizes[-1]
    std::map<int, OpSpec> embedding;

    nlohmann::json to_katib() const;  // Katib's nn_config object
};

// Katib's --nn_config, once parsed (apps/katib.h reads the single-quoted JSON). InputError naming
// `flag` and the key for a missing or malformed field, an unknown opt_type or parameter, or a
// value out of range (filter_size odd 1..15, num_filter 1..4096, stride 1..4, depth_multiplier
// 1..16, pool_size 1..15, reduction_type max_pooling or avg_pooling).
NnConfig parse_nn_config(const nlohmann::json& j, const std::string& flag);

// Katib's --architecture, once parsed: a JSON list of rows of integers. check_architecture then
// refuses anything but exactly num_layers rows with row i holding i + 1 integers, bits 0 or 1, and
// op ids in the nn_config's embedding (when given) or in 0..num_ops-1.
Architecture parse_architecture(const nlohmann::json& j, const std::string& flag);
void check_architecture(const Architecture& arch, int num_layers, int num_ops,
                        const std::map<int, OpSpec>* embedding, const std::string& what);

// The op id of each layer (the first integer of every row).
std::vector<int> ops_of(const Architecture& arch);

// Katib's architecture text: [[27], [29, 0], ...] with ", " separators, as the suggestion writes
// it.
std::string architecture_text(const Architecture& arch);

// A search space: Katib's nasConfig (graphConfig and operations) with the ids of 2.2.
struct SearchSpace {
    int num_layers = 0;
    int height = 0, width = 0, channels = 0, classes = 0;
    std::vector<OpSpec> ops;  // index = id

    // The nn_config Katib would hand the trial of `arch`: the embedding holds the ops it uses.
    NnConfig nn_config(const Architecture& arch) const;
    nlohmann::json to_json() const;  // the nasConfig form parse_search_space reads
};

// Katib's Experiment nasConfig as JSON: {"graphConfig": {"numLayers": 8, "inputSizes": [32, 32,
// 3], "outputSizes": [10]}, "operations": [{"operationType": "convolution", "parameters": [{"name":
// "filter_size", "parameterType": "categorical", "feasibleSpace": {"list": ["3", "5"]}}, ...]}]}.
// parameterType categorical (a list) or int (min, max, step); `what` names the input in errors.
SearchSpace parse_search_space(const nlohmann::json& j, const std::string& what);

// enas-gpu.yaml's space (2.2): 106 ops for 8 layers, 32x32x3 in, 10 classes out.
SearchSpace katib_gpu_space();

}  // namespace cudarts::enas
