// Pictures of a search's result for `cudarts visualize`: a derived cell as a
// Graphviz graph, and softmax(alpha) as an SVG heat map with its trajectory over the epochs.
//
// A cell (reference/darts.md 5 and 6.1) reads two inputs, c_{k-2} and c_{k-1}; intermediate node
// i sums the ops of its two genes; the output c_{k} concatenates the states listed in concat. The
// DOT text is built from the genes alone, in gene order, so equal genotypes give equal bytes and
// tests can compare it exactly. `dot` itself (Debian's graphviz) is run only by render_dot_svg.
//
// The heat map is our own SVG (no library): one row per edge, "node i <- c_{k-2}" etc. in the
// alpha row order of darts.md 2.3 (node 0's 2 edges, node 1's 3, ...), one column per primitive,
// white (0) to dark blue (1) with the value printed to 2 decimals. With more than one epoch a
// second panel draws small multiples laid out like the cell: a row per node, a chart per incoming
// edge, a line per primitive over the epochs, all charts on one y axis from 0 to the largest
// probability (rounded up to a tenth). Labels are XML-escaped, so any title is safe.
// The metrics.jsonl reader lives here too, so its line-numbered errors can be tested directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/darts/genotype.h"

namespace cudarts {

// Name of cell state `s` as the pictures print it: 0 -> "c_{k-2}", 1 -> "c_{k-1}", j >= 2 -> the
// intermediate node "j-2" (just the number).
std::string cell_state_name(int s);
// Row label of alpha row `edge` of a `nodes`-node cell: "node 1 <- c_{k-1}", "node 3 <- node 0".
std::string alpha_edge_label(int edge, int nodes);

// One cell as Graphviz DOT: inputs "c_{k-2}" and "c_{k-1}", intermediate nodes "0".."n-1", output
// "c_{k}"; an edge per gene labelled with its op, and an edge from every concat state to c_{k}.
// genes.size() must be even (2 per node) and the inputs valid (CUDARTS_CHECK otherwise: a parsed
// Genotype is always valid).
std::string cell_to_dot(const std::vector<Gene>& genes, const std::vector<int>& concat,
                        const std::string& title);

// softmax(alpha) of one cell kind as a standalone SVG document: the heat map of the last epoch of
// `trajectory` ([epoch][edges * K], row-major, K = primitives.size(), edges = nodes (nodes + 3) /
// 2) and, when it holds more than one epoch, the per-edge trajectory panel with a legend.
std::string alpha_heatmap_svg(const std::vector<std::vector<float>>& trajectory,
                              const std::vector<std::string>& primitives, int nodes,
                              const std::string& title);

// Whether Graphviz's `dot` can be run (`command -v dot`).
bool dot_available();
// Runs `dot -Tsvg` on `dot` through temporary files and returns the SVG. Throws InputError
// "visualize: Graphviz 'dot' not found (install Debian's graphviz) ..." when it cannot run, and
// InputError naming dot's first stderr line when it fails.
std::string render_dot_svg(const std::string& dot);

// The softmax alphas of a search's metrics.jsonl (one JSON object per epoch, EpochMetrics::
// to_json): [epoch][values] for each cell kind, empty lines skipped, and the node count of the
// lines' "genotype" (0 when no line has one). The flat lists do not say where a row ends; the
// genotype does, so it lets a wrong primitive count be caught. InputError "<path> line N: ..."
// for a line that is not JSON, lacks softmax_alphas_normal / softmax_alphas_reduce, holds a
// non-number, a different width than the first epoch or a bad genotype; "<path>: ..." when it
// holds no epoch.
struct MetricsAlphas {
    std::vector<std::vector<float>> normal, reduce;
    int genotype_nodes = 0;
};
MetricsAlphas parse_metrics_alphas(const std::string& text, const std::string& path);

// Nodes of a cell whose alpha rows hold `values` numbers over `primitives` columns. With
// known_nodes > 0 (from the genotype) values must be exactly n (n + 3) / 2 * K; without, n is
// inferred from values / K. InputError naming `what` and `source` (where the primitives came
// from) when they do not fit.
int alpha_nodes(size_t values, const std::vector<std::string>& primitives, int known_nodes,
                const std::string& what, const std::string& source);

}  // namespace cudarts
