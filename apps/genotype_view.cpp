// Cell graphs and alpha heat maps (apps/genotype_view.h). Everything but render_dot_svg is a
// pure function of its arguments: the SVG is assembled as text with fixed layout constants and
// numbers printed by snprintf, so the same alphas always give the same bytes.
#include "apps/genotype_view.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/fileio.h"
#include "engine/json.h"
#include "kernels/check.h"

namespace cudarts {

namespace {

std::string xml_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// A DOT double-quoted string: only `"` and `\` need a backslash.
std::string dot_quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string num(double v, int decimals) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

// Layout of the heat map and the trajectory panel, in SVG user units (px).
constexpr int kMargin = 16;
constexpr int kTitleH = 34;     // title baseline at 24
constexpr int kRowH = 22;       // one alpha row
constexpr int kColW = 58;       // one primitive column
constexpr double kCharW = 6.6;  // rough width of an 11 px sans-serif character, for layout only
constexpr int kChartW = 150, kChartH = 84, kChartGapX = 28, kChartGapY = 40;
// A line colour per primitive (cycled; from the 11th on the lines are also dashed).
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kPaletteSize = int(sizeof kPalette / sizeof kPalette[0]);

// White at p = 0 to dark blue (#08306b) at p = 1, linear in RGB.
std::string heat_colour(float p) {
    const double t = std::clamp(double(p), 0.0, 1.0);
    const int r = int(std::lround(255 + (8 - 255) * t)), g = int(std::lround(255 + (48 - 255) * t)),
              b = int(std::lround(255 + (107 - 255) * t));
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
    return buf;
}

std::string text(double x, double y, const std::string& s, const std::string& attrs = "") {
    return "<text x=\"" + num(x, 1) + "\" y=\"" + num(y, 1) + "\"" + (attrs.empty() ? "" : " ") +
           attrs + ">" + xml_escape(s) + "</text>\n";
}

std::string rect(double x, double y, double w, double h, const std::string& attrs) {
    return "<rect x=\"" + num(x, 1) + "\" y=\"" + num(y, 1) + "\" width=\"" + num(w, 1) +
           "\" height=\"" + num(h, 1) + "\" " + attrs + "/>\n";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& attrs) {
    return "<line x1=\"" + num(x1, 1) + "\" y1=\"" + num(y1, 1) + "\" x2=\"" + num(x2, 1) +
           "\" y2=\"" + num(y2, 1) + "\" " + attrs + "/>\n";
}

std::string line_style(size_t k) {
    return std::string("stroke=\"") + kPalette[k % kPaletteSize] + "\" stroke-width=\"1.5\"" +
           (int(k) >= kPaletteSize ? " stroke-dasharray=\"4 2\"" : "");
}

int text_width(const std::string& s) { return int(std::ceil(double(s.size()) * kCharW)); }

// The trajectory panel at vertical offset `top`: legend, then a row of charts per node. Returns
// the SVG text; *height receives the panel's height.
std::string trajectory_panel(const std::vector<std::vector<float>>& traj,
                             const std::vector<std::string>& prims, int nodes, int width, int top,
                             int* height) {
    const size_t k_count = prims.size(), epochs = traj.size();
    // One y range for all charts, 0 to the largest probability rounded up to a tenth: early in a
    // search every op sits near 1/K, and a 0..1 axis would flatten the lines into one.
    float top_p = 0.f;
    for (const std::vector<float>& epoch : traj)
        for (float p : epoch) top_p = std::max(top_p, p);
    const double y_max = std::clamp(std::ceil(double(top_p) * 10.0 - 1e-6) / 10.0, 0.1, 1.0);
    std::string svg = "<g class=\"trajectory\">\n";
    int y = top + 18;
    svg +=
        text(kMargin, y, "probability of each op per edge over epochs 1.." + std::to_string(epochs),
             "font-size=\"13\" font-weight=\"bold\"");
    // Legend: a short line and the name per primitive, wrapping at the panel width.
    int x = kMargin;
    y += 20;
    for (size_t k = 0; k < k_count; ++k) {
        const int w = 26 + text_width(prims[k]) + 16;
        if (x + w > width - kMargin && x > kMargin) {  // next legend line
            x = kMargin;
            y += 18;
        }
        svg += line(x, y - 4, x + 20, y - 4, line_style(k));
        svg += text(x + 26, y, prims[k]);
        x += w;
    }
    y += 24;
    // Charts: node i's row holds its i + 2 incoming edges, in alpha row order.
    int edge = 0;
    for (int node = 0; node < nodes; ++node) {
        const int cy = y + node * (kChartH + kChartGapY) + 14;
        for (int j = 0; j < node + 2; ++j, ++edge) {
            const int cx = kMargin + 22 + j * (kChartW + kChartGapX);
            svg += text(cx, cy - 5, alpha_edge_label(edge, nodes));
            svg += rect(cx, cy, kChartW, kChartH, "fill=\"#ffffff\" stroke=\"#999999\"");
            svg += line(cx, cy + kChartH / 2.0, cx + kChartW, cy + kChartH / 2.0,
                        "stroke=\"#dddddd\"");
            svg += text(cx - 4, cy + 4, num(y_max, 1), "font-size=\"9\" text-anchor=\"end\"");
            svg += text(cx - 4, cy + kChartH + 3, "0", "font-size=\"9\" text-anchor=\"end\"");
            svg += text(cx, cy + kChartH + 12, "1", "font-size=\"9\"");
            svg += text(cx + kChartW, cy + kChartH + 12, std::to_string(epochs),
                        "font-size=\"9\" text-anchor=\"end\"");
            for (size_t k = 0; k < k_count; ++k) {
                std::string points;
                for (size_t e = 0; e < epochs; ++e) {
                    const double p =
                        std::clamp(double(traj[e][size_t(edge) * k_count + k]), 0.0, y_max);
                    const double px = cx + kChartW * double(e) / double(epochs - 1);
                    const double py = cy + kChartH * (1.0 - p / y_max);
                    if (e) points += ' ';
                    points += num(px, 1);
                    points += ',';
                    points += num(py, 1);
                }
                svg +=
                    "<polyline fill=\"none\" " + line_style(k) + " points=\"" + points + "\"/>\n";
            }
        }
    }
    *height = y + nodes * (kChartH + kChartGapY) - top;
    return svg + "</g>\n";
}

}  // namespace

std::string cell_state_name(int s) {
    CUDARTS_CHECK(s >= 0, "cell state " << s);
    if (s == 0) return "c_{k-2}";
    if (s == 1) return "c_{k-1}";
    return std::to_string(s - 2);
}

std::string alpha_edge_label(int edge, int nodes) {
    CUDARTS_CHECK(edge >= 0 && edge < edges_for(nodes),
                  "alpha row " << edge << " of a " << nodes << "-node cell");
    int node = 0, first = 0;
    while (edge >= first + node + 2) first += node + 2, ++node;
    const int j = edge - first;
    return "node " + std::to_string(node) + " <- " +
           (j < 2 ? cell_state_name(j) : "node " + cell_state_name(j));
}

std::string cell_to_dot(const std::vector<Gene>& genes, const std::vector<int>& concat,
                        const std::string& title) {
    CUDARTS_CHECK(!genes.empty() && genes.size() % 2 == 0,
                  "a cell holds 2 genes per node, got " << genes.size());
    const int nodes = int(genes.size()) / 2;
    std::string dot = "digraph " + dot_quote(title) + " {\n";
    dot += "  graph [label=" + dot_quote(title) +
           ", labelloc=t, rankdir=LR, fontname=\"Helvetica\"];\n";
    dot += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n";
    dot += "  edge [fontname=\"Helvetica\", fontsize=11];\n";
    dot +=
        "  { rank=same; \"c_{k-2}\" [fillcolor=\"#cfe8cf\"]; "
        "\"c_{k-1}\" [fillcolor=\"#cfe8cf\"]; }\n";
    for (int i = 0; i < nodes; ++i)
        dot += "  " + dot_quote(std::to_string(i)) + " [fillcolor=\"#cfe0f5\"];\n";
    dot += "  \"c_{k}\" [fillcolor=\"#f5ecc4\"];\n";
    for (size_t g = 0; g < genes.size(); ++g) {
        const int node = int(g / 2);
        CUDARTS_CHECK(genes[g].input >= 0 && genes[g].input <= node + 1,
                      "gene " << g << " of node " << node << " reads state " << genes[g].input);
        dot += "  " + dot_quote(cell_state_name(genes[g].input)) + " -> " +
               dot_quote(std::to_string(node)) + " [label=" + dot_quote(genes[g].op) + "];\n";
    }
    for (int c : concat) {
        CUDARTS_CHECK(c >= 0 && c <= nodes + 1,
                      "concat state " << c << " of a " << nodes << "-node cell");
        dot += "  " + dot_quote(cell_state_name(c)) + " -> \"c_{k}\";\n";
    }
    return dot + "}\n";
}

std::string alpha_heatmap_svg(const std::vector<std::vector<float>>& trajectory,
                              const std::vector<std::string>& primitives, int nodes,
                              const std::string& title) {
    const size_t k_count = primitives.size();
    const int edges = int(edges_for(nodes));
    CUDARTS_CHECK(nodes >= 1 && k_count >= 1 && !trajectory.empty(),
                  "a heat map needs nodes, primitives and an epoch");
    for (const std::vector<float>& epoch : trajectory)
        CUDARTS_CHECK(epoch.size() == size_t(edges) * k_count,
                      "an epoch holds " << epoch.size() << " values; " << edges << " edges x "
                                        << k_count << " primitives expected");
    const std::vector<float>& last = trajectory.back();

    int label_w = 0, header_h = 0;
    for (int e = 0; e < edges; ++e)
        label_w = std::max(label_w, text_width(alpha_edge_label(e, nodes)));
    for (const std::string& p : primitives) header_h = std::max(header_h, text_width(p));
    label_w += 12;
    header_h = int(std::ceil(header_h * 0.7071)) + 14;  // names rotated by 45 degrees
    const int grid_x = kMargin + label_w, grid_y = kTitleH + header_h;
    const int grid_w = int(k_count) * kColW, grid_h = edges * kRowH;
    const int scale_y = grid_y + grid_h + 14;
    // The last column's rotated name reaches past the grid by about its width / sqrt(2).
    const int header_reach = int(std::ceil(text_width(primitives.back()) * 0.7071)) - kColW / 2;
    int width = std::max(grid_x + grid_w + std::max(0, header_reach) + kMargin,
                         text_width(title) * 14 / 11 + 2 * kMargin);
    if (trajectory.size() > 1)
        width = std::max(width, kMargin + 22 + (nodes + 1) * (kChartW + kChartGapX));

    std::string body;
    body += text(kMargin, 24, title, "font-size=\"14\" font-weight=\"bold\"");
    body += "<g class=\"heatmap\">\n";
    for (size_t k = 0; k < k_count; ++k) {
        const double x = grid_x + (double(k) + 0.5) * kColW, y = grid_y - 6;
        body += "<text transform=\"translate(" + num(x, 1) + "," + num(y, 1) + ") rotate(-45)\">" +
                xml_escape(primitives[k]) + "</text>\n";
    }
    for (int e = 0; e < edges; ++e) {
        const double y = grid_y + e * kRowH;
        body += text(grid_x - 8, y + kRowH / 2.0 + 4, alpha_edge_label(e, nodes),
                     "text-anchor=\"end\"");
        for (size_t k = 0; k < k_count; ++k) {
            const float p = last[size_t(e) * k_count + k];
            const double x = grid_x + double(k) * kColW;
            body += rect(x, y, kColW, kRowH, "fill=\"" + heat_colour(p) + "\"");
            body += text(x + kColW / 2.0, y + kRowH / 2.0 + 4, num(p, 2),
                         std::string("text-anchor=\"middle\" fill=\"") +
                             (p > 0.5f ? "#ffffff" : "#000000") + "\"");
        }
    }
    // Separators between the nodes' groups of rows, and a frame.
    for (int node = 1, row = 2; node < nodes; row += node + 2, ++node)
        body += line(grid_x - label_w + 4, grid_y + row * kRowH, grid_x + grid_w,
                     grid_y + row * kRowH, "stroke=\"#555555\"");
    body += rect(grid_x, grid_y, grid_w, grid_h, "fill=\"none\" stroke=\"#555555\"");
    // Colour scale: 0 .. 1.
    body += rect(grid_x, scale_y, 160, 10, "fill=\"url(#cudarts-heat-scale)\" stroke=\"#555555\"");
    body += text(grid_x - 4, scale_y + 9, "0", "text-anchor=\"end\"");
    body += text(grid_x + 164, scale_y + 9, "1  softmax(alpha), last epoch");
    body += "</g>\n";
    int height = scale_y + 10 + kMargin;
    if (trajectory.size() > 1) {
        int panel_h = 0;
        body += trajectory_panel(trajectory, primitives, nodes, width, height, &panel_h);
        height += panel_h;
    }

    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
                      "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
                      std::to_string(width) + " " + std::to_string(height) +
                      "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n";
    svg +=
        "<defs><linearGradient id=\"cudarts-heat-scale\">"
        "<stop offset=\"0\" stop-color=\"" +
        heat_colour(0.f) +
        "\"/>"
        "<stop offset=\"1\" stop-color=\"" +
        heat_colour(1.f) +
        "\"/>"
        "</linearGradient></defs>\n";
    svg += rect(0, 0, width, height, "fill=\"#ffffff\"");
    return svg + body + "</svg>\n";
}

bool dot_available() { return std::system("command -v dot >/dev/null 2>&1") == 0; }

std::string render_dot_svg(const std::string& dot) {
    namespace fs = std::filesystem;
    static std::atomic<int> counter{0};
    const fs::path base = fs::temp_directory_path() / ("cudarts-dot-" + std::to_string(::getpid()) +
                                                       "-" + std::to_string(counter++));
    const std::string in = base.string() + ".dot", out = base.string() + ".svg",
                      err = base.string() + ".err";
    auto cleanup = [&] {
        std::error_code ec;
        for (const std::string& p : {in, out, err}) fs::remove(p, ec);
    };
    auto quoted = [](const std::string& p) {  // single-quoted for /bin/sh
        std::string q = "'";
        for (char c : p) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    try {
        write_file_atomic(in, dot.data(), dot.size());
        const std::string cmd =
            "dot -Tsvg " + quoted(in) + " -o " + quoted(out) + " 2>" + quoted(err);
        const int status = std::system(cmd.c_str());
        const int code = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        if (code == 127 || code == -1)
            throw InputError(
                "visualize: Graphviz 'dot' not found (install Debian's graphviz, "
                "e.g. scripts/setup); cannot draw the cell as SVG");
        if (code != 0) {
            std::ifstream f(err);
            std::string first;
            std::getline(f, first);
            throw InputError("visualize: Graphviz 'dot -Tsvg' failed (exit " +
                             std::to_string(code) + ")" + (first.empty() ? "" : ": " + first));
        }
        const std::vector<uint8_t> bytes = read_file(out);
        cleanup();
        return std::string(bytes.begin(), bytes.end());
    } catch (...) {
        cleanup();
        throw;
    }
}

MetricsAlphas parse_metrics_alphas(const std::string& jsonl, const std::string& path) {
    MetricsAlphas m;
    std::istringstream in(jsonl);
    std::string row;
    for (int line_no = 1; std::getline(in, row); ++line_no) {
        if (row.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string where = path + " line " + std::to_string(line_no) + ": ";
        const char* expected = "one object per epoch, as cudarts search writes metrics.jsonl";
        const nlohmann::json j =
            parse_json(row, path + " line " + std::to_string(line_no), expected);
        if (!j.is_object())
            throw InputError(where + "not a JSON object (expected " + expected + ")");
        for (const char* key : {"softmax_alphas_normal", "softmax_alphas_reduce"}) {
            std::vector<std::vector<float>>& dst =
                std::string(key) == "softmax_alphas_normal" ? m.normal : m.reduce;
            if (!j.contains(key) || !j[key].is_array() || j[key].empty())
                throw InputError(where + "no '" + key +
                                 "' list (expected the lines cudarts search writes)");
            std::vector<float> values;
            for (const nlohmann::json& v : j[key]) {
                if (!v.is_number())
                    throw InputError(where + "'" + key + "' holds " + quote_json(v) +
                                     " (expected probabilities)");
                values.push_back(v.get<float>());
            }
            if (!dst.empty() && values.size() != dst.front().size())
                throw InputError(where + "'" + key + "' holds " + std::to_string(values.size()) +
                                 " values, the first epoch " + std::to_string(dst.front().size()));
            dst.push_back(std::move(values));
        }
        if (j.contains("genotype")) {
            const std::string what = path + " line " + std::to_string(line_no) + " genotype";
            const Genotype g = j["genotype"].is_string()
                                   ? parse_genotype(j["genotype"].get<std::string>(), what)
                                   : genotype_from_json(j["genotype"], what);
            if (m.genotype_nodes && g.nodes() != m.genotype_nodes)
                throw InputError(where + "a " + std::to_string(g.nodes()) +
                                 "-node genotype after " + std::to_string(m.genotype_nodes) +
                                 "-node ones (expected one search per file)");
            m.genotype_nodes = g.nodes();
        }
    }
    if (m.normal.empty())
        throw InputError(path +
                         ": no epochs (expected one JSON object per line, as cudarts "
                         "search writes metrics.jsonl)");
    return m;
}

int alpha_nodes(size_t values, const std::vector<std::string>& primitives, int known_nodes,
                const std::string& what, const std::string& source) {
    const size_t k = primitives.size();
    CUDARTS_CHECK(k >= 1, "no primitives");
    const std::string values_text = what + " holds " + std::to_string(values) + " values per epoch";
    const std::string prims_text = std::to_string(k) + " primitives (" + source + ")";
    if (known_nodes > 0) {
        const size_t edges = size_t(edges_for(known_nodes));
        if (values != edges * k)
            throw InputError(values_text + ", but its genotype's " + std::to_string(known_nodes) +
                             "-node cells have " + std::to_string(edges) + " edges x " +
                             prims_text + " = " + std::to_string(edges * k));
        return known_nodes;
    }
    const int nodes = values % k == 0 ? nodes_for(int64_t(values / k)) : 0;
    if (nodes == 0)
        throw InputError(values_text + ", not n(n+3)/2 edges x " + prims_text + " for any n");
    return nodes;
}

}  // namespace cudarts
