// Reading a search checkpoint's architecture; see models/run/search_checkpoint.h.
#include "models/run/search_checkpoint.h"

#include <cstring>
#include <tuple>

#include "kernels/check.h"
#include "models/nn/checkpoint.h"

namespace cudarts {

namespace {

// The options of `f` with the primitive list in official names (the default list filled in).
SearchOptions checkpoint_options(const SafetensorsFile& f) {
    const std::string what = metadata_name(f.path, "options");
    SearchOptions o = SearchOptions::from_json(checkpoint_json(f, "options"), what);
    if (o.net.primitives.empty()) o.net.primitives = darts_primitives();
    for (std::string& p : o.net.primitives) {
        try {
            p = official_primitive(p);
        } catch (const InputError& e) {
            throw InputError(what + ": 'primitives': " + e.what());
        }
    }
    if (o.net.nodes < 1)
        throw InputError(what + ": 'nodes' is " + std::to_string(o.net.nodes) +
                         ", expected at least 1");
    return o;
}

// Entry `name` of `f` as a finite F32 matrix of `cols` columns and one row per edge of `nodes`-node
// cells (at least one row, any number when `nodes` is 0); its values and its row count.
std::pair<std::vector<float>, int64_t> alpha_values(const SafetensorsFile& f,
                                                    const std::string& name, int nodes,
                                                    size_t cols) {
    const int64_t rows = nodes ? edges_for(nodes) : 0;
    if (!f.tensors.count(name))
        throw InputError(f.path + ": no tensor '" + name +
                         "' (expected a search checkpoint with alphas_normal and alphas_reduce)");
    const SafetensorsTensor& t = f.tensors.at(name);
    const std::string is = f.path + ": '" + name + "' is " + dtype_name(t.dtype) + " " +
                           shape_str(t.shape) + ", expected F32 [" +
                           (rows ? std::to_string(rows) : "edges") + ", " + std::to_string(cols) +
                           "]";
    if (t.dtype != DType::kF32 || t.shape.size() != 2)
        throw InputError(is + " (one row per edge, one column per primitive)");
    if (t.shape[0] == 0 || t.shape[1] == 0)
        throw InputError(is + " (not empty: one row per edge, one column per primitive)");
    if (t.shape[1] != int64_t(cols)) throw InputError(is + " (one column per primitive)");
    if (rows && t.shape[0] != rows)
        throw InputError(is + " (one row per edge: its options say " + std::to_string(nodes) +
                         "-node cells)");
    std::vector<float> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));
    require_finite(f, name, v, int64_t(cols));
    return {std::move(v), t.shape[0]};
}

}  // namespace

SearchCheckpoint read_search_checkpoint(SafetensorsFile f,
                                        const std::vector<std::string>& primitives) {
    SearchCheckpoint c;
    if (f.metadata.count("options")) {
        c.options = checkpoint_options(f);
        c.has_reduction = c.options->net.has_reduction();
    }
    c.primitives = !primitives.empty() ? primitives
                   : c.options         ? c.options->net.primitives
                                       : darts_primitives();
    // The rows: one per edge of the options' cells, else whatever n(n+3)/2 both tensors share.
    const int nodes = c.options ? c.options->net.nodes : 0;
    const size_t cols = c.primitives.size();
    int64_t rows = 0, rows_reduce = 0;
    std::tie(c.alphas_normal, rows) = alpha_values(f, "alphas_normal", nodes, cols);
    std::tie(c.alphas_reduce, rows_reduce) = alpha_values(f, "alphas_reduce", nodes, cols);
    c.nodes = c.options ? c.options->net.nodes : nodes_for(rows);
    if (c.nodes == 0 || rows_reduce != rows)
        throw InputError(f.path + ": alphas with " + std::to_string(rows) + " and " +
                         std::to_string(rows_reduce) +
                         " rows (expected n(n+3)/2 rows for n nodes, e.g. 14, in both)");
    c.file = std::move(f);
    return c;
}

SearchCheckpoint read_search_checkpoint(const std::string& path,
                                        const std::vector<std::string>& primitives) {
    return read_search_checkpoint(read_safetensors(path), primitives);
}

}  // namespace cudarts
