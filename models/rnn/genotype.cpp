// Recurrent genotypes (models/rnn/genotype.h): derivation, the two printed forms and their
// parsers, which share the character scanner of the CNN genotypes (models/darts/genotype_scanner.h)
// and one validation.
#include "models/rnn/genotype.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "engine/json.h"
#include "kernels/check.h"
#include "models/darts/genotype_scanner.h"

namespace cudarts {

namespace {

using genotype_parse::json_index;
using genotype_parse::range_of;

const char* const kExample = "Genotype(recurrent=[('sigmoid', 0), ...], concat=range(1, 9))";
const char* const kJsonExample = "{\"recurrent\": [[\"sigmoid\", 0], ...], \"concat\": [1, ...]}";

bool is_activation(const std::string& op) {
    return std::find(kRnnPrimitives.begin() + 1, kRnnPrimitives.end(), op) != kRnnPrimitives.end();
}

std::string activation_problem(const std::string& op) {
    return "unknown op '" + op + "' (expected tanh, relu, sigmoid or identity)";
}

// The checks both readers share; `fail(k, msg)` names gene k (or the genotype when k < 0) and does
// not return. Ops were checked while reading.
void validate(const RecurrentGenotype& g,
              const std::function<void(int, const std::string&)>& fail) {
    const int steps = g.steps();
    if (steps < 1 || steps > kRnnMaxSteps)
        fail(-1, "has " + std::to_string(steps) + " genes; expected 1.." +
                     std::to_string(kRnnMaxSteps) + " (one per node)");
    for (int k = 0; k < steps; ++k) {
        const RecurrentGene& gene = g.recurrent[size_t(k)];
        if (gene.input < 0 || gene.input > k)
            fail(k, "('" + gene.op + "', " + std::to_string(gene.input) + "): node " +
                        std::to_string(k) + " can read states 0.." + std::to_string(k) + " only");
    }
    if (g.concat.empty()) fail(-1, "concat is empty");
    for (auto it = g.concat.begin(); it != g.concat.end(); ++it) {
        if (*it < 0 || *it > steps)
            fail(-1, "concat entry " + std::to_string(*it) + " is not a state of a " +
                         std::to_string(steps) + "-node cell (0.." + std::to_string(steps) + ")");
        if (std::find(g.concat.begin(), it, *it) != it)
            fail(-1, "concat repeats " + std::to_string(*it));
    }
}

class RecurrentParser : genotype_parse::Scanner {
public:
    RecurrentParser(const std::string& text, const std::string& what)
        : Scanner(text, what, kExample) {}

    RecurrentGenotype parse() {
        RecurrentGenotype g;
        genotype_open();
        bool seen_genes = false, seen_concat = false;
        items(')', [&] {
            skip_ws();
            const size_t at = i_;
            const std::string name = ident();
            if (name != "recurrent" && name != "concat")
                fail("expected a field recurrent= or concat=", at);
            bool& seen = name == "recurrent" ? seen_genes : seen_concat;
            if (seen) fail("field '" + name + "' given twice", at);
            seen = true;
            expect('=');
            if (name == "concat") {
                g.concat = concat(&g.concat_as_range);
                return;
            }
            expect('[');
            items(']', [&] { gene(g); });
        });
        genotype_end();
        if (!seen_genes) fail("the field recurrent is required", 0, false);
        if (!seen_concat) g.concat = range_of(1, g.steps() + 1);
        validate(g, [&](int k, const std::string& msg) {
            if (k < 0) fail(msg, 0, false);
            fail("gene " + msg, gene_at_[size_t(k)]);
        });
        return g;
    }

private:
    // One ('op', input) or ['op', input].
    void gene(RecurrentGenotype& g) {
        skip_ws();
        gene_at_.push_back(i_);
        if (g.recurrent.size() >= size_t(kRnnMaxSteps))
            fail("more than " + std::to_string(kRnnMaxSteps) + " genes", i_);
        const char close = accept('(') ? ')' : accept('[') ? ']' : 0;
        if (!close) fail("expected a gene like ('sigmoid', 0) but found " + found(), i_);
        size_t name_at = 0;
        const std::string op = quoted("op name", name_at);
        if (!is_activation(op)) fail(activation_problem(op), name_at);
        expect(',');
        g.recurrent.push_back({op, integer("an input index")});
        accept(',');
        expect(close);
    }

    std::vector<size_t> gene_at_;
};

[[noreturn]] void json_fail(const std::string& what, const std::string& msg) {
    throw InputError(what + ": expected a genotype like " + kJsonExample + ": " + msg);
}

}  // namespace

RecurrentGenotype derive_recurrent_genotype(const float* alpha, int steps) {
    CUDARTS_CHECK(steps >= 1 && steps <= kRnnMaxSteps, "a recurrent cell of " << steps << " nodes");
    constexpr size_t cols = kRnnPrimitives.size();
    RecurrentGenotype g;
    int row0 = 0;
    for (int node = 0; node < steps; ++node) {
        double best_strength = -1;
        RecurrentGene best;
        for (int j = 0; j <= node; ++j) {
            const float* row = alpha + size_t(row0 + j) * cols;
            double top = row[0], sum = 0;
            for (size_t c = 0; c < cols; ++c) {
                CUDARTS_CHECK(std::isfinite(row[c]),
                              "alpha row " << row0 + j << " column " << c << " is " << row[c]);
                top = std::max(top, double(row[c]));
            }
            for (size_t c = 0; c < cols; ++c) sum += std::exp(double(row[c]) - top);
            size_t op = 1;  // the non-none argmax, strict > (the lowest column wins a tie)
            for (size_t c = 2; c < cols; ++c)
                if (row[c] > row[op]) op = c;
            const double strength = std::exp(double(row[op]) - top) / sum;
            if (strength > best_strength) {  // strict: ties keep the lower j, as a stable sort
                best_strength = strength;
                best = {kRnnPrimitives[op], j};
            }
        }
        g.recurrent.push_back(best);
        row0 += node + 1;
    }
    g.concat = range_of(1, steps + 1);
    return g;
}

std::string to_darts_string(const RecurrentGenotype& g) {
    std::string out = "Genotype(recurrent=[";
    for (size_t k = 0; k < g.recurrent.size(); ++k)
        out += std::string(k ? ", " : "") + "('" + g.recurrent[k].op + "', " +
               std::to_string(g.recurrent[k].input) + ")";
    return out + "], concat=" + genotype_parse::concat_text(g.concat, g.concat_as_range, ", ") +
           ")";
}

nlohmann::json to_json(const RecurrentGenotype& g) {
    nlohmann::json genes = nlohmann::json::array();
    for (const RecurrentGene& gene : g.recurrent) genes.push_back({gene.op, gene.input});
    return {{"recurrent", genes}, {"concat", g.concat}};
}

RecurrentGenotype recurrent_genotype_from_json(const nlohmann::json& given,
                                               const std::string& what) {
    const nlohmann::json& j = genotype_parse::unwrap_json(given, "recurrent");
    if (j.is_string()) return parse_recurrent_genotype(j.get<std::string>(), what);
    const std::string problem = genotype_parse::keys_problem(j, {"recurrent", "concat"});
    if (!problem.empty()) json_fail(what, problem);
    if (!j.contains("recurrent") || !j["recurrent"].is_array())
        json_fail(what, "the key recurrent (a list of genes) is required");
    const auto index_fail = [&](const std::string& m) { json_fail(what, m); };
    RecurrentGenotype g;
    const nlohmann::json& list = j["recurrent"];
    if (list.size() > size_t(kRnnMaxSteps))
        json_fail(what, "recurrent has " + std::to_string(list.size()) + " genes; expected 1.." +
                            std::to_string(kRnnMaxSteps));
    for (size_t k = 0; k < list.size(); ++k) {
        const nlohmann::json& e = list[k];
        const std::string where = "recurrent[" + std::to_string(k) + "]";
        if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number_integer())
            json_fail(what, where + " is " + quote_json(e) + "; expected [\"op\", input]");
        const std::string op = e[0].get<std::string>();
        if (!is_activation(op)) json_fail(what, where + ": " + activation_problem(op));
        g.recurrent.push_back({op, json_index(e[1], where, index_fail)});
    }
    if (!j.contains("concat")) {
        g.concat = range_of(1, g.steps() + 1);
    } else {
        if (!j["concat"].is_array()) json_fail(what, "concat is not a list");
        for (const nlohmann::json& v : j["concat"]) {
            if (!v.is_number_integer()) json_fail(what, "concat holds " + quote_json(v));
            g.concat.push_back(json_index(v, "concat", index_fail));
        }
    }
    validate(g, [&](int k, const std::string& msg) {
        json_fail(what, k >= 0 ? "recurrent[" + std::to_string(k) + "] " + msg : msg);
    });
    return g;
}

RecurrentGenotype parse_recurrent_genotype(const std::string& text, const std::string& what) {
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '{')
        return recurrent_genotype_from_json(
            parse_json(text, what, std::string("a genotype like ") + kJsonExample), what);
    return RecurrentParser(text, what).parse();
}

std::optional<RecurrentGenotype> builtin_recurrent_genotype(const std::string& name) {
    RecurrentGenotype g;
    if (name == "DARTS_V1") {
        g.recurrent = {{"relu", 0}, {"relu", 1},     {"tanh", 2}, {"relu", 3},
                       {"relu", 4}, {"identity", 1}, {"relu", 5}, {"relu", 1}};
    } else if (name == "DARTS_V2" || name == "DARTS") {
        g.recurrent = {{"sigmoid", 0}, {"relu", 1},    {"relu", 1}, {"identity", 1},
                       {"tanh", 2},    {"sigmoid", 5}, {"tanh", 3}, {"relu", 5}};
    } else {
        return std::nullopt;
    }
    g.concat = range_of(1, 9);
    return g;
}

RecurrentGenotype resolve_recurrent_genotype(const std::string& arg) {
    return genotype_parse::resolve_argument(
        arg, builtin_recurrent_genotype, parse_recurrent_genotype,
        std::string("a built-in recurrent genotype (DARTS, DARTS_V1, DARTS_V2), an existing file, "
                    "or a genotype text like ") +
            kExample);
}

}  // namespace cudarts
