// Genotype and alpha pictures (apps/genotype_view.h): the exact DOT of a one-node cell, the
// DARTS_V2 cells' edges, Graphviz rendering (skipped without `dot`) and its "not found" error,
// the heat map SVG checked by a small tag-balance parser (every primitive, every edge label,
// values to 2 decimals, the colour ends, the trajectory panel only with more than one epoch,
// escaping), and the metrics.jsonl reader's line-numbered errors.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "apps/genotype_view.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::error_of;

namespace {

int count(const std::string& s, const std::string& part) {
    int n = 0;
    for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size()))
        ++n;
    return n;
}

bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

// "" when `xml` is one element with balanced tags and no raw '<', '>' or '&' in text or
// attribute values; otherwise what is wrong. Knows just enough XML for our SVG (no comments,
// CDATA or processing instructions).
std::string xml_problem(const std::string& xml) {
    std::vector<std::string> open;
    size_t i = 0;
    bool closed_root = false;
    while (i < xml.size()) {
        if (xml[i] == '<') {
            const size_t end = xml.find('>', i);
            if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
            std::string tag = xml.substr(i + 1, end - i - 1);
            if (tag.find('<') != std::string::npos)
                return "'<' inside a tag at " + std::to_string(i);
            if (closed_root) return "content after the root element at " + std::to_string(i);
            const bool closing = !tag.empty() && tag[0] == '/';
            const bool self = !tag.empty() && tag.back() == '/';
            if (closing) tag = tag.substr(1);
            const std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
            if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c));
                }))
                return "bad tag name '" + name + "' at " + std::to_string(i);
            if (closing) {
                if (open.empty() || open.back() != name)
                    return "</" + name + "> closes " + (open.empty() ? "nothing" : open.back());
                open.pop_back();
                closed_root = open.empty();
            } else if (!self) {
                open.push_back(name);
            }
            // Attribute values: '&' only as an entity.
            for (size_t a = tag.find('&'); a != std::string::npos; a = tag.find('&', a + 1))
                if (tag.find(';', a) == std::string::npos) return "raw '&' in a tag";
            i = end + 1;
            continue;
        }
        if (xml[i] == '>') return "raw '>' in text at " + std::to_string(i);
        if (xml[i] == '&') {
            const size_t semi = xml.find(';', i);
            const std::string ent = xml.substr(i, semi == std::string::npos ? 1 : semi - i + 1);
            if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" &&
                ent != "&apos;")
                return "raw '&' in text at " + std::to_string(i);
        }
        if (open.empty() && !std::isspace(static_cast<unsigned char>(xml[i])))
            return "text outside the root element at " + std::to_string(i);
        ++i;
    }
    if (!open.empty()) return "<" + open.back() + "> is never closed";
    return closed_root ? "" : "no root element";
}

// Alphas of a 2-node cell (5 edges) over 3 primitives; row e = {0.6 - 0.1 e, 0.3, 0.1 + 0.1 e},
// times `scale` (so epochs differ).
std::vector<float> two_node_alphas(float scale = 1.f) {
    std::vector<float> v;
    for (int e = 0; e < 5; ++e)
        for (float p : {0.6f - 0.1f * float(e), 0.3f, 0.1f + 0.1f * float(e)})
            v.push_back(p * scale);
    return v;
}

}  // namespace

TEST_SUITE("genotype_view") {
    TEST_CASE("genotype_view: exact DOT for a 1-node genotype") {
        const std::vector<Gene> genes = {{"sep_conv_3x3", 1}, {"skip_connect", 0}};
        const std::string want =
            "digraph \"tiny \\\"cell\\\"\" {\n"
            "  graph [label=\"tiny \\\"cell\\\"\", labelloc=t, rankdir=LR, "
            "fontname=\"Helvetica\"];\n"
            "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n"
            "  edge [fontname=\"Helvetica\", fontsize=11];\n"
            "  { rank=same; \"c_{k-2}\" [fillcolor=\"#cfe8cf\"]; "
            "\"c_{k-1}\" [fillcolor=\"#cfe8cf\"]; }\n"
            "  \"0\" [fillcolor=\"#cfe0f5\"];\n"
            "  \"c_{k}\" [fillcolor=\"#f5ecc4\"];\n"
            "  \"c_{k-1}\" -> \"0\" [label=\"sep_conv_3x3\"];\n"
            "  \"c_{k-2}\" -> \"0\" [label=\"skip_connect\"];\n"
            "  \"0\" -> \"c_{k}\";\n"
            "}\n";
        CHECK(cell_to_dot(genes, {2}, "tiny \"cell\"") == want);
        // A concat may also list an input state.
        CHECK(has(cell_to_dot(genes, {1, 2}, "t"), "  \"c_{k-1}\" -> \"c_{k}\";\n"));
        CHECK_THROWS_AS(cell_to_dot({{"sep_conv_3x3", 2}, {"skip_connect", 0}}, {2}, "t"), Error);
        CHECK_THROWS_AS(cell_to_dot({{"sep_conv_3x3", 0}}, {2}, "t"), Error);
    }

    TEST_CASE("genotype_view: DARTS_V2 cells have their 8 op edges and 4 concat edges") {
        const Genotype g = *builtin_genotype("DARTS_V2");
        const std::string normal = cell_to_dot(g.normal, g.normal_concat, "normal");
        CHECK(count(normal, " -> ") == 12);
        CHECK(count(normal, "[label=\"") == 8 + 1);  // 8 ops and the graph's title
        CHECK(count(normal, "[label=\"sep_conv_3x3\"]") == 5);
        CHECK(count(normal, "[label=\"skip_connect\"]") == 2);
        for (const char* edge : {"\"c_{k-2}\" -> \"0\" [label=\"sep_conv_3x3\"]",
                                 "\"c_{k-1}\" -> \"2\" [label=\"sep_conv_3x3\"]",
                                 "\"c_{k-2}\" -> \"3\" [label=\"skip_connect\"]",
                                 "\"0\" -> \"3\" [label=\"dil_conv_3x3\"]"})
            CHECK_MESSAGE(has(normal, edge), edge);
        for (int n = 0; n < 4; ++n)
            CHECK(has(normal, "  \"" + std::to_string(n) + "\" -> \"c_{k}\";\n"));
        const std::string reduce = cell_to_dot(g.reduce, g.reduce_concat, "reduce");
        CHECK(count(reduce, " -> ") == 12);
        CHECK(count(reduce, "[label=\"max_pool_3x3\"]") == 5);
        CHECK(count(reduce, "[label=\"skip_connect\"]") == 3);
        CHECK(has(reduce, "\"0\" -> \"1\" [label=\"skip_connect\"]"));
    }

    TEST_CASE("genotype_view: render_dot_svg draws with Graphviz or says it is missing") {
        const Genotype g = *builtin_genotype("DARTS_V2");
        const std::string dot = cell_to_dot(g.normal, g.normal_concat, "normal");
        if (dot_available()) {
            const std::string svg = render_dot_svg(dot);
            CHECK(has(svg, "<svg"));
            CHECK(has(svg, "dil_conv_3x3"));
            CHECK((has(svg, "c_{k&#45;2}") || has(svg, "c_{k-2}")));
        } else {
            MESSAGE("Graphviz 'dot' is not installed: rendering not checked");
        }
        // With no `dot` on PATH the error names Graphviz.
        const char* path = std::getenv("PATH");
        const std::string saved = path ? path : "";
        setenv("PATH", "/nonexistent-cudarts-test", 1);
        const bool available = dot_available();
        std::string msg;
        try {
            render_dot_svg(dot);
        } catch (const InputError& e) {
            msg = e.what();
        }
        setenv("PATH", saved.c_str(), 1);
        CHECK(!available);
        CHECK(has(msg, "Graphviz 'dot' not found"));
    }

    TEST_CASE("genotype_view: edge labels follow the alpha row order") {
        CHECK(alpha_edge_label(0, 4) == "node 0 <- c_{k-2}");
        CHECK(alpha_edge_label(1, 4) == "node 0 <- c_{k-1}");
        CHECK(alpha_edge_label(4, 4) == "node 1 <- node 0");
        CHECK(alpha_edge_label(5, 4) == "node 2 <- c_{k-2}");
        CHECK(alpha_edge_label(13, 4) == "node 3 <- node 2");
        CHECK(nodes_for(14) == 4);
        CHECK(nodes_for(2) == 1);
        CHECK(nodes_for(5) == 2);
        CHECK(nodes_for(13) == 0);
        CHECK(nodes_for(0) == 0);
        CHECK(alpha_nodes(14 * 8, darts_primitives(), 0, "m", "s") == 4);
        CHECK(alpha_nodes(14 * 8, darts_primitives(), 4, "m", "s") == 4);
        std::string msg = error_of([] { alpha_nodes(14 * 7, darts_primitives(), 0, "m", "s"); });
        CHECK(msg.rfind("m holds 98 values per epoch", 0) == 0);
        CHECK(has(msg, "x 8 primitives (s) for any n"));
        CHECK(has(error_of([] { alpha_nodes(13 * 8, darts_primitives(), 0, "m", "s"); }), "(s)"));
        // 5 edges x 8 values also read as 20 edges (5 nodes) x 2: only a known node count
        // catches the wrong primitive list.
        const std::vector<std::string> two = {"none", "skip_connect"};
        CHECK(alpha_nodes(40, two, 0, "m", "s") == 5);
        msg = error_of([&] { alpha_nodes(40, two, 2, "m", "s"); });
        CHECK(has(msg,
                  "m holds 40 values per epoch, but its genotype's 2-node cells have 5 edges x "
                  "2 primitives (s) = 10"));
    }

    TEST_CASE("genotype_view: heat map SVG is well formed and shows every edge, op and value") {
        const std::vector<std::string> prims = {"max_pool_3x3", "skip_connect", "sep_conv_3x3"};
        const std::string svg = alpha_heatmap_svg({two_node_alphas()}, prims, 2, "normal cell");
        CHECK(svg.rfind("<svg", 0) == 0);
        CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
        CHECK(xml_problem(svg) == "");
        for (const std::string& p : prims) CHECK(count(svg, ">" + p + "</text>") == 1);
        for (int e = 0; e < 5; ++e) {
            std::string label = alpha_edge_label(e, 2);
            label.replace(label.find('<'), 1, "&lt;");
            CHECK_MESSAGE(has(svg, ">" + label + "</text>"), label);
        }
        // 15 cells, each value printed with 2 decimals. Rows: .6 .3 .1 | .5 .3 .2 | .4 .3 .3 |
        // .3 .3 .4 | .2 .3 .5.
        CHECK(count(svg, "<rect") == 1 + 15 + 2);  // background, cells, frame, colour scale
        CHECK(count(svg, ">0.30</text>") == 7);
        CHECK(count(svg, ">0.60</text>") == 1);
        CHECK(count(svg, ">0.50</text>") == 2);
        CHECK(count(svg, ">0.20</text>") == 2);
        CHECK(count(svg, ">0.10</text>") == 1);
        CHECK(count(svg, ">0.40</text>") == 2);
        CHECK(!has(svg, "class=\"trajectory\""));
        CHECK(count(svg, "<polyline") == 0);
        // The colour ends: p = 1 is dark blue with white text, p = 0 white.
        std::vector<float> ends = two_node_alphas();
        ends[0] = 1.f;
        ends[1] = ends[2] = 0.f;
        const std::string s2 = alpha_heatmap_svg({ends}, prims, 2, "t");
        CHECK(has(s2, "fill=\"#08306b\"/>"));
        CHECK(has(s2, "fill=\"#ffffff\">1.00</text>"));
        CHECK(count(s2, "fill=\"#ffffff\"/>") == 3);  // the background and the 2 cells at p = 0
        CHECK_THROWS_AS(alpha_heatmap_svg({std::vector<float>(14)}, prims, 2, "t"), Error);
    }

    TEST_CASE("genotype_view: the trajectory panel appears only with more than one epoch") {
        const std::vector<std::string> prims = {"none", "skip_connect", "dil_conv_5x5"};
        const std::vector<std::vector<float>> traj = {two_node_alphas(0.5f), two_node_alphas(0.75f),
                                                      two_node_alphas()};
        const std::string svg = alpha_heatmap_svg(traj, prims, 2, "reduce");
        CHECK(xml_problem(svg) == "");
        CHECK(count(svg, "class=\"trajectory\"") == 1);
        CHECK(count(svg, "<polyline") == 5 * 3);  // one line per edge and op
        CHECK(has(svg, "over epochs 1..3"));
        CHECK(count(svg, ">0.6</text>") == 5);  // the shared y axis tops at the largest value
        // The heat map shows the last epoch: row 0 is 0.60 0.30 0.10.
        CHECK(count(svg, ">0.60</text>") == 1);
        CHECK(count(svg, ">0.45</text>") == 0);  // 0.6 * 0.75 is not the last epoch
        // Each polyline has 3 points; the first (edge 0, none) rises 0.30 -> 0.45 -> 0.60.
        const size_t at = svg.find("points=\"") + 8;
        const std::string points = svg.substr(at, svg.find('"', at) - at);
        CHECK(count(points, ",") == 3);
        CHECK(count(points, " ") == 2);
        // Legend: each primitive named once in the legend, once as a column header.
        for (const std::string& p : prims) CHECK(count(svg, ">" + p + "</text>") == 2);
    }

    TEST_CASE("genotype_view: labels are XML-escaped") {
        const std::vector<std::string> prims = {"a&b", "x<y>z", "q\"'"};
        const std::string svg = alpha_heatmap_svg({two_node_alphas(), two_node_alphas()}, prims, 2,
                                                  "alphas of <run> & \"co\"");
        CHECK(xml_problem(svg) == "");
        CHECK(has(svg, "alphas of &lt;run&gt; &amp; &quot;co&quot;"));
        CHECK(has(svg, ">a&amp;b</text>"));
        CHECK(has(svg, ">x&lt;y&gt;z</text>"));
        CHECK(has(svg, ">q&quot;&apos;</text>"));
        CHECK(!has(svg, "<run>"));
        CHECK(!has(svg, "x<y"));
        // The checker itself rejects what escaping prevents.
        CHECK(xml_problem("<svg><text>a<b</text></svg>") != "");
        CHECK(xml_problem("<svg><text>a & b</text></svg>") != "");
        CHECK(xml_problem("<svg><g></svg>") != "");
        CHECK(xml_problem("<svg><g/></svg>") == "");
    }

    TEST_CASE("genotype_view: metrics.jsonl alphas are read per epoch, errors name the line") {
        const std::string l1 =
            "{\"epoch\": 0, \"softmax_alphas_normal\": [0.25, 0.75], "
            "\"softmax_alphas_reduce\": [0.5, 0.5], \"genotype\": "
            "\"Genotype(normal=[('skip_connect', "
            "0), ('skip_connect', 1)], normal_concat=range(2, 3), reduce=[], "
            "reduce_concat=range(2, 3))\"}";
        const std::string l2 =
            "{\"epoch\": 1, \"softmax_alphas_normal\": [0.125, 0.875], "
            "\"softmax_alphas_reduce\": [1, 0]}";
        const MetricsAlphas m = parse_metrics_alphas(l1 + "\n\n" + l2 + "\n", "m.jsonl");
        REQUIRE(m.normal.size() == 2);
        REQUIRE(m.reduce.size() == 2);
        CHECK(m.normal[1] == std::vector<float>{0.125f, 0.875f});
        CHECK(m.reduce[0] == std::vector<float>{0.5f, 0.5f});
        CHECK(m.reduce[1] == std::vector<float>{1.f, 0.f});
        CHECK(m.genotype_nodes == 1);
        CHECK(parse_metrics_alphas(l2, "m.jsonl").genotype_nodes == 0);  // no genotype key

        std::string msg;
        CHECK(error_of([&] {
                  parse_metrics_alphas(l1 + "\n{oops\n", "m.jsonl");
              }).rfind("m.jsonl line 2: expected one object per epoch", 0) == 0);
        CHECK(error_of([&] {
                  parse_metrics_alphas(l1 + "\n[1, 2]\n", "m.jsonl");
              }).rfind("m.jsonl line 2: not a JSON object", 0) == 0);
        CHECK(error_of([&] {
                  parse_metrics_alphas(l1 + "\n" + std::string(100, '[') + "\n", "m.jsonl");
              }).rfind("m.jsonl line 2 nests deeper than 64 levels", 0) == 0);
        CHECK(error_of([&] {
                  parse_metrics_alphas(l1 + "\n\n{\"epoch\": 1}\n", "m.jsonl");
              }).rfind("m.jsonl line 3: no 'softmax_alphas_normal'", 0) == 0);
        const std::string wide =
            "{\"softmax_alphas_normal\": [0.2, 0.3, 0.5], \"softmax_alphas_reduce\": [1, 0]}";
        CHECK(has(error_of([&] { parse_metrics_alphas(l1 + "\n" + wide, "m.jsonl"); }),
                  "m.jsonl line 2: 'softmax_alphas_normal' holds 3 values, the first epoch 2"));
        const std::string null_value =
            "{\"softmax_alphas_normal\": [null, 1], \"softmax_alphas_reduce\": [1, 0]}";
        CHECK(has(error_of([&] { parse_metrics_alphas(null_value, "m.jsonl"); }),
                  "m.jsonl line 1: 'softmax_alphas_normal' holds null"));
        const std::string bad_genotype =
            "{\"softmax_alphas_normal\": [0, 1], \"softmax_alphas_reduce\": [1, 0], "
            "\"genotype\": \"Genotype(normal=[('conv_9x9', 0)])\"}";
        msg = error_of([&] { parse_metrics_alphas(l1 + "\n" + bad_genotype, "m.jsonl"); });
        CHECK(msg.rfind("m.jsonl line 2 genotype: ", 0) == 0);
        CHECK(has(msg, "conv_9x9"));
        CHECK(error_of([] {
                  parse_metrics_alphas("\n  \n", "m.jsonl");
              }).rfind("m.jsonl: no epochs", 0) == 0);
    }
}
