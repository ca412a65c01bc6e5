// A search checkpoint read for its architecture: the options it was written with, the alpha
// columns, the node count and the alphas, checked against each other. `cudarts derive`,
// `cudarts visualize` and a resumed search (Search::load) all read checkpoints through it, so a
// bad file is refused the same way, with one line naming the file and what is wrong.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "models/run/search.h"

namespace cudarts {

struct SearchCheckpoint {
    SafetensorsFile file;                  // as read: the metadata and every tensor
    std::optional<SearchOptions> options;  // metadata "options"; absent in e.g. a PyTorch export
    std::vector<std::string> primitives;   // the alpha columns, official names
    int nodes = 0;                         // intermediate nodes per cell
    bool has_reduction = true;             // the options' layers >= 2; true without options
    std::vector<float> alphas_normal, alphas_reduce;  // edges_for(nodes) x primitives, row-major
};

// The architecture of checkpoint `f`. The columns are `primitives` when not empty (a --primitives
// flag), else the options' (the 8 of DARTS for an empty list or no options); the node count is
// the options', else the one whose n(n+3)/2 edges match the alpha rows. alphas_normal and
// alphas_reduce must be F32 [edges_for(nodes), primitives], non-empty and finite. Throws
// InputError naming the file and the tensor or the options key otherwise (a wrongly typed
// option included).
SearchCheckpoint read_search_checkpoint(SafetensorsFile f,
                                        const std::vector<std::string>& primitives = {});
// The same for the file at `path`.
SearchCheckpoint read_search_checkpoint(const std::string& path,
                                        const std::vector<std::string>& primitives = {});

}  // namespace cudarts
