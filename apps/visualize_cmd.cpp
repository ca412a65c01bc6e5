// `cudarts visualize`: pictures of a genotype and of a search's alphas (apps/genotype_view.h).
//
//   --genotype G   (a built-in name, a file or the text) -> normal.dot, reduce.dot and, when
//                  Graphviz's `dot` runs, normal.svg, reduce.svg. Without `dot` a warning is
//                  printed and only the DOT files are written (an error with --require-svg).
//   --metrics F    (a search's metrics.jsonl) -> alphas_normal.svg, alphas_reduce.svg: the heat
//                  map of the last epoch and the per-edge trajectory. metrics.jsonl does not name
//                  the alpha columns, so they come from --primitives, else from the options stored
//                  in --checkpoint (the search's checkpoint.safetensors), else the 8 of DARTS.
//                  The lines' genotype gives the node count, hence the rows (n(n+3)/2), so a
//                  list of the wrong width is refused; without one, n is inferred from the width.
// Files go into --out (default "."), each written atomically.
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "apps/genotype_view.h"
#include "apps/subcommands.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/run/search_checkpoint.h"

namespace fs = std::filesystem;

namespace cudarts::apps {

namespace {

void write_text(const fs::path& path, const std::string& text) {
    write_file_atomic(path.string(), text.data(), text.size());
    std::printf("wrote %s\n", path.string().c_str());
}

// The alpha columns (and, when known, node count and whether a reduce cell exists) of a search.
struct AlphaColumns {
    std::vector<std::string> primitives;
    std::string source;        // for error messages: where the primitives came from
    std::optional<int> nodes;  // from a checkpoint
    bool has_reduce = true;
};

// The columns of --checkpoint `path` (`primitives`, from --primitives, over its options').
AlphaColumns columns_from_checkpoint(const std::string& path,
                                     const std::vector<std::string>& primitives) {
    SafetensorsFile f = read_safetensors(path);
    if (!f.metadata.count("options"))
        throw InputError("--checkpoint " + path +
                         ": no metadata 'options' (expected a cudarts search checkpoint)");
    const SearchCheckpoint c = read_search_checkpoint(std::move(f), primitives);
    return {c.primitives, "from --checkpoint " + path, c.nodes, c.has_reduction};
}

void draw_genotype(const Genotype& g, const fs::path& out, bool require_svg) {
    std::vector<std::pair<std::string, std::string>> cells;  // (file stem, DOT)
    cells.emplace_back("normal", cell_to_dot(g.normal, g.normal_concat, "normal cell"));
    if (g.has_reduce)
        cells.emplace_back("reduce", cell_to_dot(g.reduce, g.reduce_concat, "reduction cell"));
    for (const auto& [stem, dot] : cells) write_text(out / (stem + ".dot"), dot);
    if (!g.has_reduce) std::printf("the genotype has no reduction cell (reduce=[])\n");
    if (!require_svg && !dot_available()) {
        std::printf(
            "warning: visualize: Graphviz 'dot' not found (install Debian's graphviz); "
            "wrote the .dot files only\n");
        return;
    }
    for (const auto& [stem, dot] : cells) write_text(out / (stem + ".svg"), render_dot_svg(dot));
}

// The validated alphas of a metrics.jsonl, ready to draw.
struct AlphaPlot {
    MetricsAlphas alphas;
    int nodes = 0;
};

AlphaPlot read_alphas(const std::string& metrics, const AlphaColumns& cols) {
    const std::vector<uint8_t> bytes = read_file(metrics);
    AlphaPlot p{parse_metrics_alphas(std::string(bytes.begin(), bytes.end()), metrics), 0};
    const size_t width = p.alphas.normal.front().size();
    p.nodes = alpha_nodes(width, cols.primitives, p.alphas.genotype_nodes,
                          metrics + ": softmax_alphas_normal", cols.source);
    if (p.alphas.reduce.front().size() != width)
        throw InputError(metrics + ": softmax_alphas_reduce holds " +
                         std::to_string(p.alphas.reduce.front().size()) +
                         " values per epoch but softmax_alphas_normal " + std::to_string(width) +
                         " (expected the same)");
    if (cols.nodes && *cols.nodes != p.nodes)
        throw InputError(metrics + ": its alphas are for " + std::to_string(p.nodes) +
                         "-node cells but the checkpoint's options say " +
                         std::to_string(*cols.nodes) + " nodes (not the same search?)");
    return p;
}

void draw_alphas(const AlphaPlot& p, const AlphaColumns& cols, const fs::path& out) {
    const std::string after = ", after epoch " + std::to_string(p.alphas.normal.size());
    write_text(out / "alphas_normal.svg",
               alpha_heatmap_svg(p.alphas.normal, cols.primitives, p.nodes,
                                 "normal cell: softmax(alphas_normal)" + after));
    if (cols.has_reduce)
        write_text(out / "alphas_reduce.svg",
                   alpha_heatmap_svg(p.alphas.reduce, cols.primitives, p.nodes,
                                     "reduction cell: softmax(alphas_reduce)" + after));
}

}  // namespace

int cmd_visualize(int argc, char** argv) {
    cxxopts::Options opts("cudarts visualize",
                          "Draw a genotype's cells (Graphviz DOT and SVG) and a search's "
                          "softmax(alpha) as SVG heat maps with their trajectory.");
    // clang-format off
    opts.add_options()
        ("genotype", "DARTS, DARTS_V1, DARTS_V2, a genotype file or the text -> normal/reduce "
                     ".dot and .svg", cxxopts::value<std::string>())
        ("metrics", "a search's metrics.jsonl -> alphas_normal.svg, alphas_reduce.svg",
         cxxopts::value<std::string>())
        ("checkpoint", "the search's checkpoint.safetensors, for its primitives and nodes",
         cxxopts::value<std::string>())
        ("primitives", "the alpha columns, comma-separated (default: from --checkpoint, else the "
                       "8 of DARTS)", cxxopts::value<std::string>())
        ("out", "output directory", cxxopts::value<std::string>()->default_value("."))
        ("require-svg", "fail (exit 2) when Graphviz's dot cannot draw the cells");
    // clang-format on
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    const bool genotype = args.count("genotype") > 0, metrics = args.count("metrics") > 0;
    if (!genotype && !metrics)
        throw InputError("visualize: expected --genotype G and/or --metrics metrics.jsonl");
    if (!metrics && (args.count("checkpoint") || args.count("primitives")))
        throw InputError(std::string(args.count("checkpoint") ? "--checkpoint" : "--primitives") +
                         ": only used with --metrics (it names the alpha columns)");

    // Read and check every input before anything is written.
    std::optional<Genotype> g;
    if (genotype) g = resolve_genotype(args["genotype"].as<std::string>());
    AlphaColumns cols;
    std::optional<AlphaPlot> plot;
    if (metrics) {
        const std::vector<std::string> primitives =
            args.count("primitives") ? parse_primitive_list(args["primitives"].as<std::string>())
                                     : std::vector<std::string>{};
        if (args.count("checkpoint"))
            cols = columns_from_checkpoint(args["checkpoint"].as<std::string>(), primitives);
        if (!primitives.empty()) {
            cols.primitives = primitives;
            cols.source = "--primitives";
        }
        if (cols.primitives.empty()) {
            cols.primitives = darts_primitives();
            cols.source = "the 8 of DARTS; pass --primitives or --checkpoint for another space";
        }
        plot = read_alphas(args["metrics"].as<std::string>(), cols);
    }

    const fs::path out = args["out"].as<std::string>();
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec || !fs::is_directory(out))
        throw InputError("--out " + out.string() + ": cannot create the directory (" +
                         (ec ? ec.message() : "not a directory") + ")");
    if (g) draw_genotype(*g, out, args.count("require-svg") > 0);
    if (plot) draw_alphas(*plot, cols, out);
    return 0;
}

}  // namespace cudarts::apps
