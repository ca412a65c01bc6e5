// The DARTS search space (reference/darts.md 1.1 and 1.4, katib.md 1.5): one table of the
// primitives, each with its official name, its Katib name and the builder of its module, in alpha
// column order. Every part that names or builds a primitive reads this table: make_primitive
// (models/darts/ops.h), the name mapping below, the genotype parsers and their error text.
// Also the size of a cell's alpha: node i has an edge from each of the 2 + i earlier states, so an
// n-node cell has n (n + 3) / 2 edges (14 for 4 nodes).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cudarts {

class Primitive;
class ModelBuilder;
struct OpOptions;

// Builds the module on `channels` channels at `stride`, its tensors registered below `prefix`.
using PrimitiveBuilder = std::unique_ptr<Primitive> (*)(int channels, int stride,
                                                        const OpOptions& opt, ModelBuilder& b,
                                                        const std::string& prefix);

struct PrimitiveSpec {
    const char* official;  // the reference's name, e.g. sep_conv_3x3
    const char* katib;     // Katib's name, e.g. separable_convolution_3x3
    PrimitiveBuilder build;
};

inline constexpr size_t kPrimitiveCount = 8;
// The table itself (defined in models/darts/ops.cpp, beside the modules it builds).
const std::array<PrimitiveSpec, kPrimitiveCount>& primitive_table();

// The official names in alpha column order.
const std::vector<std::string>& darts_primitives();
// The entry for an official or Katib name; nullptr when there is none.
const PrimitiveSpec* find_primitive(const std::string& name);
// "unknown primitive 'x' (expected one of: <official names> or Katib's names <Katib names>)".
std::string unknown_primitive_message(const std::string& name);
// Official name for an official or Katib name (separable_convolution_3x3 -> sep_conv_3x3,
// skip_connection -> skip_connect, none -> none). Unknown -> InputError with the message above;
// callers prefix the input.
std::string official_primitive(const std::string& name);
// Katib name for an official (or already Katib) name; unknown -> InputError as above.
std::string katib_primitive(const std::string& official);

// The alpha rows (edges) of a `nodes`-node cell, and the node count of a cell with `edges` rows
// (0 when no n gives n (n + 3) / 2 == edges).
constexpr int64_t edges_for(int64_t nodes) { return nodes * (nodes + 3) / 2; }
int nodes_for(int64_t edges);

}  // namespace cudarts
