// Genotype derivation, printing and parsing (models/darts/genotype.h). The text parser is a small
// recursive-descent reader over the characters, so every error can name the character where the
// text went wrong; the JSON reader shares the validation of genes and concats with it.
#include "models/darts/genotype.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <functional>
#include <numeric>

#include "engine/fileio.h"
#include "engine/json.h"
#include "kernels/check.h"
#include "models/darts/genotype_scanner.h"

namespace cudarts {

namespace {

using genotype_parse::concat_text;
using genotype_parse::json_index;
using genotype_parse::range_of;

// Reports a problem with `cell` (normal, reduce, normal_concat, reduce_concat), naming gene k of
// it when k >= 0. Never returns.
using CellFail = std::function<void(const std::string& cell, int k, const std::string& msg)>;

// Shared validation of parsed genotypes: gene counts, input ranges and concats. Ops were
// checked (and made official) while reading. Sets has_reduce.
void validate(Genotype& g, const CellFail& fail) {
    if (g.normal.empty()) fail("normal", -1, "has no genes");
    for (const char* cell : {"normal", "reduce"}) {
        const std::vector<Gene>& genes = std::string(cell) == "normal" ? g.normal : g.reduce;
        if (genes.size() % 2 != 0)
            fail(cell, -1, "has " + std::to_string(genes.size()) + " genes; expected 2 per node");
        for (size_t k = 0; k < genes.size(); ++k) {
            const int node = int(k / 2), last = node + 1;
            if (genes[k].input < 0 || genes[k].input > last)
                fail(cell, int(k),
                     "('" + genes[k].op + "', " + std::to_string(genes[k].input) + "): node " +
                         std::to_string(node) + " can take inputs 0.." + std::to_string(last) +
                         " only");
        }
    }
    const int nodes = g.nodes();
    g.has_reduce = !g.reduce.empty();
    if (g.has_reduce && g.reduce.size() != g.normal.size())
        fail("reduce", -1,
             "has " + std::to_string(g.reduce.size() / 2) + " nodes but normal has " +
                 std::to_string(nodes));
    for (std::vector<int>* c : {&g.normal_concat, &g.reduce_concat}) {
        const char* name = c == &g.normal_concat ? "normal_concat" : "reduce_concat";
        if (c->empty()) fail(name, -1, "is empty");
        for (auto it = c->begin(); it != c->end(); ++it) {
            if (*it < 0 || *it > nodes + 1)
                fail(name, -1,
                     "entry " + std::to_string(*it) + " is not a state of a " +
                         std::to_string(nodes) + "-node cell (0.." + std::to_string(nodes + 1) +
                         ")");
            if (std::find(c->begin(), it, *it) != it)
                fail(name, -1, "repeats " + std::to_string(*it));
        }
    }
}

const char* const kJsonLike =
    "a genotype like {\"normal\": [[\"sep_conv_3x3\", 0], ...], \"reduce\": [...], ...}";

[[noreturn]] void json_fail(const std::string& what, const std::string& msg) {
    throw InputError(what + ": expected " + kJsonLike + ": " + msg);
}

// ---- text form ----------------------------------------------------------------------------

class TextParser : genotype_parse::Scanner {
public:
    TextParser(const std::string& text, const std::string& what)
        : Scanner(text, what, "Genotype(normal=[('sep_conv_3x3', 0), ...], ...)") {}

    Genotype parse() {
        Genotype g;
        genotype_open();
        static const char* kFields[] = {"normal", "normal_concat", "reduce", "reduce_concat"};
        bool seen[4] = {};
        items(')', [&] {
            skip_ws();
            const size_t at = i_;
            const std::string name = ident();
            const auto f = std::find(kFields, kFields + 4, name) - kFields;
            if (f == 4)
                fail("expected a field normal=, normal_concat=, reduce= or reduce_concat=", at);
            if (seen[f]) fail("field '" + name + "' given twice", at);
            seen[f] = true;
            expect('=');
            if (f == 0 || f == 2)
                genes(f == 0 ? g.normal : g.reduce, f == 0 ? normal_at_ : reduce_at_);
            if (f == 1) g.normal_concat = concat(&g.concat_as_range);
            if (f == 3) g.reduce_concat = concat(nullptr);
        });
        genotype_end();
        if (!seen[0] || !seen[2]) fail("the fields normal and reduce are required", 0, false);
        if (!seen[1]) g.normal_concat = range_of(2, 2 + g.nodes());
        if (!seen[3]) g.reduce_concat = range_of(2, 2 + g.nodes());
        validate(g, [&](const std::string& cell, int k, const std::string& msg) {
            if (k < 0) fail(cell + " " + msg, 0, false);
            fail(cell + " gene " + msg, (cell == "normal" ? normal_at_ : reduce_at_)[size_t(k)]);
        });
        return g;
    }

private:
    // One ('op', input) or ['op', input], recording the position of its bracket in `at`.
    void gene(std::vector<Gene>& out, std::vector<size_t>& at) {
        skip_ws();
        at.push_back(i_);
        const char close = accept('(') ? ')' : accept('[') ? ']' : 0;
        if (!close) fail("expected a gene like ('sep_conv_3x3', 0) but found " + found(), i_);
        size_t name_at = 0;
        const std::string name = quoted("op name", name_at);
        const PrimitiveSpec* p = find_primitive(name);
        if (!p) fail(unknown_primitive_message(name), name_at);
        if (std::string(p->official) == "none") fail("'none' cannot be a gene's op", name_at);
        expect(',');
        out.push_back({p->official, integer("an input index")});
        accept(',');
        expect(close);
    }
    // A flat list of genes, or Katib's list of per-node pairs (flattened).
    void genes(std::vector<Gene>& out, std::vector<size_t>& at) {
        expect('[');
        int nested = -1;  // unknown until the first element
        items(']', [&] {
            skip_ws();
            const size_t b = i_;  // a node's [(...), (...)] or a gene ('op', 0) / ['op', 0]
            const bool node = accept('[') && (accept('(') || accept('['));
            i_ = b;
            if (nested >= 0 && node != bool(nested)) fail("mixes per-node lists and genes", b);
            nested = node;
            if (!node) return gene(out, at);
            const size_t before = out.size();
            expect('[');
            items(']', [&] { gene(out, at); });
            if (out.size() - before != 2)
                fail("a node's list has " + std::to_string(out.size() - before) +
                         " genes; expected 2",
                     b);
        });
    }
    std::vector<size_t> normal_at_, reduce_at_;
};

// ---- printing -----------------------------------------------------------------------------

std::string genes_text(const std::vector<Gene>& genes, bool katib) {
    std::string out = "[";
    for (size_t k = 0; k < genes.size(); ++k) {
        const Gene& g = genes[k];
        if (katib) {
            out += std::string(k % 2 ? ","
                               : k   ? ",["
                                     : "[") +
                   "('" + katib_primitive(g.op) + "'," + std::to_string(g.input) + ")" +
                   (k % 2 ? "]" : "");
        } else {
            out += std::string(k ? ", " : "") + "('" + g.op + "', " + std::to_string(g.input) + ")";
        }
    }
    return out + "]";
}

std::string genotype_text(const Genotype& g, bool katib) {
    CUDARTS_CHECK(!katib || (g.normal.size() % 2 == 0 && g.reduce.size() % 2 == 0),
                  "a genotype's cells hold 2 genes per node");
    const char* sep = katib ? "," : ", ";
    const std::vector<Gene> none;
    return std::string("Genotype(normal=") + genes_text(g.normal, katib) + sep +
           "normal_concat=" + concat_text(g.normal_concat, g.concat_as_range, sep) + sep +
           "reduce=" + genes_text(g.has_reduce ? g.reduce : none, katib) + sep +
           "reduce_concat=" + concat_text(g.reduce_concat, g.concat_as_range, sep) + ")";
}

nlohmann::json genes_json(const std::vector<Gene>& genes) {
    nlohmann::json a = nlohmann::json::array();
    for (const Gene& g : genes) a.push_back({g.op, g.input});
    return a;
}

}  // namespace

std::vector<std::string> parse_primitive_list(const std::string& csv) {
    std::vector<std::string> out;
    size_t b = 0;
    while (true) {
        const size_t e = std::min(csv.find(',', b), csv.size());
        const std::string item = trim(csv.substr(b, e - b));
        if (item.empty())
            throw InputError("--primitives '" + csv +
                             "': expected a comma-separated list like sep_conv_3x3,max_pool_3x3 "
                             "(an item is empty)");
        const PrimitiveSpec* p = find_primitive(item);
        if (!p) throw InputError("--primitives: " + unknown_primitive_message(item));
        if (std::find(out.begin(), out.end(), p->official) != out.end())
            throw InputError("--primitives: '" + item + "' is listed twice");
        out.push_back(p->official);
        if (e == csv.size()) break;
        b = e + 1;
    }
    if (std::all_of(out.begin(), out.end(), [](const std::string& n) { return n == "none"; }))
        throw InputError("--primitives: needs at least one primitive other than 'none'");
    return out;
}

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

bool Genotype::operator==(const Genotype& o) const {
    return normal == o.normal && reduce == o.reduce && normal_concat == o.normal_concat &&
           reduce_concat == o.reduce_concat;
}

std::vector<Gene> derive_cell(const float* alpha, int rows,
                              const std::vector<std::string>& primitives, int nodes,
                              DeriveRule rule) {
    CUDARTS_CHECK(
        nodes >= 1 && rows == edges_for(nodes),
        "alpha has " << rows << " rows; a " << nodes << "-node cell needs " << edges_for(nodes));
    const size_t cols = primitives.size();
    std::vector<std::string> names;
    std::vector<size_t> ops;  // the non-none columns
    for (size_t c = 0; c < cols; ++c) {
        names.push_back(official_primitive(primitives[c]));
        if (names.back() != "none") ops.push_back(c);
    }
    CUDARTS_CHECK(!ops.empty(), "the primitives hold no op other than 'none'");
    std::vector<Gene> genes;
    int row0 = 0;
    for (int node = 0; node < nodes; ++node) {
        const int edges = node + 2;
        std::vector<double> strength(static_cast<size_t>(edges));
        std::vector<size_t> best(static_cast<size_t>(edges));
        for (int j = 0; j < edges; ++j) {
            const float* row = alpha + size_t(row0 + j) * cols;
            for (size_t c = 0; c < cols; ++c)
                CUDARTS_CHECK(std::isfinite(row[c]),
                              "alpha row " << row0 + j << " column " << c << " is " << row[c]);
            size_t b = ops[0];
            for (size_t c : ops)
                if (row[c] > row[b]) b = c;  // strict: the lowest column wins a tie
            best[size_t(j)] = b;
            if (rule == DeriveRule::kKatibLogits) {
                strength[size_t(j)] = row[b];
            } else {  // softmax probability of the best op: exp(x_b - max) / sum exp(x - max)
                const double top = *std::max_element(row, row + cols);
                double sum = 0;
                for (size_t c = 0; c < cols; ++c) sum += std::exp(double(row[c]) - top);
                strength[size_t(j)] = std::exp(double(row[b]) - top) / sum;
            }
        }
        std::vector<int> order(static_cast<size_t>(edges));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int a, int b) { return strength[size_t(a)] > strength[size_t(b)]; });
        for (int t = 0; t < 2; ++t)
            genes.push_back({names[best[size_t(order[size_t(t)])]], order[size_t(t)]});
        row0 += edges;
    }
    return genes;
}

Genotype derive_genotype(const float* alphas_normal, const float* alphas_reduce,
                         const std::vector<std::string>& primitives, int nodes, DeriveRule rule) {
    const int rows = int(edges_for(nodes));
    Genotype g;
    g.normal = derive_cell(alphas_normal, rows, primitives, nodes, rule);
    g.has_reduce = alphas_reduce != nullptr;
    if (g.has_reduce) g.reduce = derive_cell(alphas_reduce, rows, primitives, nodes, rule);
    g.normal_concat = g.reduce_concat = range_of(2, 2 + nodes);
    g.concat_as_range = true;
    return g;
}

std::string to_darts_string(const Genotype& g) { return genotype_text(g, false); }
std::string to_katib_string(const Genotype& g) { return genotype_text(g, true); }

nlohmann::json to_json(const Genotype& g) {
    return {{"normal", genes_json(g.normal)},
            {"normal_concat", g.normal_concat},
            {"reduce", g.has_reduce ? genes_json(g.reduce) : nlohmann::json::array()},
            {"reduce_concat", g.reduce_concat}};
}

std::string to_json_string(const Genotype& g) {
    const nlohmann::json j = to_json(g);
    const char* const keys[] = {"normal", "normal_concat", "reduce", "reduce_concat"};
    std::string out = "{\n";
    for (int f = 0; f < 4; ++f) {
        std::string items;
        for (const nlohmann::json& e : j[keys[f]]) {
            if (!items.empty()) items += ", ";
            items +=
                e.is_array() ? std::string("[") + e[0].dump() + ", " + e[1].dump() + "]" : e.dump();
        }
        out += std::string("  \"") + keys[f] + "\": [" + items + (f < 3 ? "],\n" : "]\n");
    }
    return out + "}\n";
}

Genotype genotype_from_json(const nlohmann::json& given, const std::string& what) {
    const nlohmann::json& j = genotype_parse::unwrap_json(given, "normal");
    if (j.is_string()) return parse_genotype(j.get<std::string>(), what);
    const std::string problem =
        genotype_parse::keys_problem(j, {"normal", "normal_concat", "reduce", "reduce_concat"});
    if (!problem.empty()) json_fail(what, problem);
    if (!j.contains("normal") || !j.contains("reduce"))
        json_fail(what, "the keys normal and reduce are required");
    auto read_gene = [&](const nlohmann::json& e, const std::string& where) {
        if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number_integer())
            json_fail(what, where + " is " + quote_json(e) + "; expected [\"op\", input]");
        const PrimitiveSpec* p = find_primitive(e[0].get<std::string>());
        if (!p) json_fail(what, where + ": " + unknown_primitive_message(e[0].get<std::string>()));
        if (std::string(p->official) == "none")
            json_fail(what, where + ": 'none' cannot be a gene's op");
        return Gene{p->official,
                    json_index(e[1], where, [&](const std::string& m) { json_fail(what, m); })};
    };
    Genotype g;
    for (const char* cell : {"normal", "reduce"}) {
        const nlohmann::json& list = j[cell];
        if (!list.is_array()) json_fail(what, std::string(cell) + " is not a list");
        std::vector<Gene>& out = std::string(cell) == "normal" ? g.normal : g.reduce;
        for (size_t k = 0; k < list.size(); ++k) {
            const std::string where = std::string(cell) + "[" + std::to_string(k) + "]";
            if (list[k].is_array() && !list[k].empty() && list[k][0].is_array()) {  // Katib node
                if (list[k].size() != 2) json_fail(what, where + " is a node list without 2 genes");
                for (size_t t = 0; t < 2; ++t)
                    out.push_back(read_gene(list[k][t], where + "[" + std::to_string(t) + "]"));
            } else {
                out.push_back(read_gene(list[k], where));
            }
        }
    }
    for (const char* key : {"normal_concat", "reduce_concat"}) {
        std::vector<int>& out =
            std::string(key) == "normal_concat" ? g.normal_concat : g.reduce_concat;
        if (!j.contains(key)) {
            out = range_of(2, 2 + g.nodes());
            continue;
        }
        if (!j[key].is_array()) json_fail(what, std::string(key) + " is not a list");
        for (const nlohmann::json& v : j[key]) {
            if (!v.is_number_integer())
                json_fail(what, std::string(key) + " holds " + quote_json(v));
            out.push_back(json_index(v, key, [&](const std::string& m) { json_fail(what, m); }));
        }
    }
    validate(g, [&](const std::string& cell, int k, const std::string& msg) {
        json_fail(what, cell + (k >= 0 ? "[" + std::to_string(k) + "] " : " ") + msg);
    });
    return g;
}

Genotype parse_genotype(const std::string& text, const std::string& what) {
    const std::string t = trim(text);
    if (!t.empty() && t.front() == '{') {
        const nlohmann::json j = parse_json(t, what, kJsonLike);  // bounded: user text
        return genotype_from_json(j, what);
    }
    return TextParser(text, what).parse();
}

std::optional<Genotype> builtin_genotype(const std::string& name) {
    // genotypes.py of the reference (darts.md section 5); DARTS = DARTS_V2.
    const std::string s3 = "sep_conv_3x3", sk = "skip_connect", mp = "max_pool_3x3",
                      ap = "avg_pool_3x3", d3 = "dil_conv_3x3";
    Genotype g;
    if (name == "DARTS_V1") {
        g.normal = {{s3, 1}, {s3, 0}, {sk, 0}, {s3, 1}, {sk, 0}, {s3, 1}, {s3, 0}, {sk, 2}};
        g.reduce = {{mp, 0}, {mp, 1}, {sk, 2}, {mp, 0}, {mp, 0}, {sk, 2}, {sk, 2}, {ap, 0}};
    } else if (name == "DARTS_V2" || name == "DARTS") {
        g.normal = {{s3, 0}, {s3, 1}, {s3, 0}, {s3, 1}, {s3, 1}, {sk, 0}, {sk, 0}, {d3, 2}};
        g.reduce = {{mp, 0}, {mp, 1}, {sk, 2}, {mp, 1}, {mp, 0}, {sk, 2}, {sk, 2}, {mp, 1}};
    } else {
        return std::nullopt;
    }
    g.normal_concat = g.reduce_concat = {2, 3, 4, 5};
    g.concat_as_range = false;
    return g;
}

Genotype resolve_genotype(const std::string& arg) {
    return genotype_parse::resolve_argument(
        arg, builtin_genotype, parse_genotype,
        "a built-in genotype (DARTS, DARTS_V1, DARTS_V2), an existing file, or a genotype text "
        "like Genotype(normal=[('sep_conv_3x3', 0), ...], ...)");
}

}  // namespace cudarts
