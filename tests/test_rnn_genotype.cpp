// Recurrent genotypes (models/rnn/genotype.h): the published DARTS_V1/V2 strings byte for byte,
// derivation on hand-built alphas (clear winners, ties between predecessors and between ops, a
// dominant `none`), round trips through the text and JSON forms, and one InputError per kind of
// malformed genotype, each naming the input.
#include <string>
#include <vector>

#include "engine/fileio.h"
#include "kernels/check.h"
#include "models/rnn/genotype.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::error_of;

namespace {

// Copied from reference/darts.md 7.6 (the reference's rnn/genotypes.py).
const std::string kDartsV1 =
    "Genotype(recurrent=[('relu', 0), ('relu', 1), ('tanh', 2), ('relu', 3), ('relu', 4), "
    "('identity', 1), ('relu', 5), ('relu', 1)], concat=range(1, 9))";
const std::string kDartsV2 =
    "Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), ('tanh', 2), "
    "('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))";

// Alpha logits of a `steps`-node search cell, all zero until set: row of edge j into node i is
// i(i+1)/2 + j, columns none, tanh, relu, sigmoid, identity.
struct Alpha {
    int steps;
    std::vector<float> v;
    explicit Alpha(int s) : steps(s), v(size_t(rnn_edges_for(s)) * 5, 0.f) {}
    Alpha& set(int node, int j, int column, float x) {
        v[size_t(node * (node + 1) / 2 + j) * 5 + size_t(column)] = x;
        return *this;
    }
    RecurrentGenotype derive() const { return derive_recurrent_genotype(v.data(), steps); }
};

bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("rnn_genotype") {
    TEST_CASE("rnn_genotype: the built-in DARTS_V1 and DARTS_V2 print as the reference's strings") {
        CHECK(to_darts_string(*builtin_recurrent_genotype("DARTS_V1")) == kDartsV1);
        CHECK(to_darts_string(*builtin_recurrent_genotype("DARTS_V2")) == kDartsV2);
        CHECK(*builtin_recurrent_genotype("DARTS") == *builtin_recurrent_genotype("DARTS_V2"));
        CHECK_FALSE(builtin_recurrent_genotype("DARTS_V3"));
        CHECK(parse_recurrent_genotype(kDartsV2) == *builtin_recurrent_genotype("DARTS_V2"));
        CHECK(rnn_edges_for(8) == 36);
    }

    TEST_CASE("rnn_genotype: derivation keeps one predecessor per node and its strongest op") {
        Alpha a(4);
        a.set(0, 0, 3, 2.f);                    // node 0: sigmoid from s0
        a.set(1, 0, 1, 1.f).set(1, 1, 2, 3.f);  // node 1: relu from node 0 beats tanh from s0
        a.set(2, 2, 0, 9.f).set(2, 2, 4, 1.f);  // node 2: none dominates edge 2 ...
        a.set(2, 0, 4, 1.5f);                   // ... whose identity has probability e/(e^9+..)
        a.set(3, 1, 1, 1.f).set(3, 1, 2, 1.f);  // node 3: tanh and relu tie on edge 1 (tanh),
        a.set(3, 2, 2, 1.f).set(3, 2, 3, 1.f);  // and edge 2 is as strong (edge 1 kept)
        const RecurrentGenotype g = a.derive();
        CHECK(g.recurrent == std::vector<RecurrentGene>{
                                 {"sigmoid", 0}, {"relu", 1}, {"identity", 0}, {"tanh", 1}});
        CHECK(g.concat == std::vector<int>{1, 2, 3, 4});
        CHECK(to_darts_string(g) ==
              "Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('identity', 0), ('tanh', 1)], "
              "concat=range(1, 5))");
        // All zero: every row ties, so s0 everywhere and the first op (tanh).
        const RecurrentGenotype zero = Alpha(8).derive();
        for (const RecurrentGene& gene : zero.recurrent) CHECK(gene == RecurrentGene{"tanh", 0});
        Alpha bad(2);
        bad.set(1, 1, 2, std::nanf(""));
        CHECK_THROWS_AS(bad.derive(), Error);
    }

    TEST_CASE("rnn_genotype: text and JSON forms parse back to the same genotype") {
        const RecurrentGenotype v1 = *builtin_recurrent_genotype("DARTS_V1");
        CHECK(parse_recurrent_genotype(to_darts_string(v1)) == v1);
        CHECK(parse_recurrent_genotype(to_json(v1).dump()) == v1);
        CHECK(to_json(v1).dump() ==
              "{\"concat\":[1,2,3,4,5,6,7,8],\"recurrent\":[[\"relu\",0],[\"relu\",1],[\"tanh\",2],"
              "[\"relu\",3],[\"relu\",4],[\"identity\",1],[\"relu\",5],[\"relu\",1]]}");
        // A NAME= prefix, double quotes, lists, spaces and a trailing comma; concat defaults.
        const RecurrentGenotype g = parse_recurrent_genotype(
            " DARTS_X = Genotype( recurrent = [ [\"tanh\", 0], ('relu',1), ], concat=[2, 1] ) ");
        CHECK(g.recurrent == std::vector<RecurrentGene>{{"tanh", 0}, {"relu", 1}});
        CHECK(g.concat == std::vector<int>{2, 1});
        CHECK_FALSE(g.concat_as_range);
        CHECK(to_darts_string(g) ==
              "Genotype(recurrent=[('tanh', 0), ('relu', 1)], concat=[2, 1])");
        CHECK(parse_recurrent_genotype("Genotype(recurrent=[('tanh', 0)])").concat ==
              std::vector<int>{1});
        CHECK(parse_recurrent_genotype("{\"genotype\": {\"recurrent\": [[\"relu\", 0]]}}") ==
              parse_recurrent_genotype("Genotype(recurrent=[('relu', 0)], concat=range(1, 2))"));
        CHECK(resolve_recurrent_genotype("DARTS_V1") == v1);
        CHECK(resolve_recurrent_genotype(kDartsV2) == *builtin_recurrent_genotype("DARTS_V2"));
        test::TempDir tmp("rnn_genotype");
        const std::string file = tmp.file("g.json");
        const std::string text = to_json(v1).dump();
        write_file_atomic(file, text.data(), text.size());
        CHECK(resolve_recurrent_genotype(file) == v1);
    }

    TEST_CASE("rnn_genotype: every malformed genotype is one line naming the input and the fault") {
        const std::string like =
            "g: expected a genotype like Genotype(recurrent=[('sigmoid', 0), ...], "
            "concat=range(1, 9)): ";
        auto text_error = [](const std::string& t) {
            return error_of([&] { parse_recurrent_genotype(t, "g"); });
        };
        const std::string json_like =
            "g: expected a genotype like {\"recurrent\": [[\"sigmoid\", 0], ...], \"concat\": "
            "[1, ...]}: ";
        // Text, the form's common message, and what the message says after it.
        struct Case {
            const std::string* form;
            std::string text, fault;
        };
        const std::vector<Case> cases = {
            {&like, "Genotype(recurrent=[('conv', 0)])",
             "unknown op 'conv' (expected tanh, relu, sigmoid or identity) at character 22"},
            {&like, "Genotype(recurrent=[('none', 0)])",
             "unknown op 'none' (expected tanh, relu, sigmoid or identity) at character 22"},
            {&like, "Genotype(recurrent=[('tanh', 0), ('relu', 2)])",
             "gene ('relu', 2): node 1 can read states 0..1 only at character 34"},
            {&like, "Genotype(recurrent=[('tanh', 0)], concat=range(1, 3))",
             "concat entry 2 is not a state of a 1-node cell (0..1)"},
            {&like, "Genotype(recurrent=[('tanh', 0)], concat=[1, 1])", "concat repeats 1"},
            {&like, "Genotype(recurrent=[])", "has 0 genes; expected 1..16 (one per node)"},
            {&like, "Genotype(concat=range(1, 9))", "the field recurrent is required"},
            {&like, "Genotype(recurrent=[('tanh', 0)]) x",
             "unexpected text after the genotype at character 35"},
            {&like, "Genotype(normal=[])",
             "expected a field recurrent= or concat= at character 10"},
            {&like, "Genotype(recurrent=[('tanh', 0)], recurrent=[])",
             "field 'recurrent' given twice at character 35"},
            {&like, "Genotype(recurrent=[('tanh' 0)])",
             "expected ',' but found '0' at character 29"},
            {&json_like, "{\"recurrent\": [[\"tanh\", 4294967296]]}",
             "recurrent[0] holds 4294967296, out of range for a node index"},
            {&json_like, "{\"recurrent\": [[\"tanh\", 0]], \"steps\": 8}",
             "unknown key 'steps' (expected recurrent, concat)"},
            {&json_like, "{\"recurrent\": [[\"tanh\"]]}",
             "recurrent[0] is [\"tanh\"]; expected [\"op\", input]"},
            {&json_like, "{\"recurrent\": [[\"tanh\", 0], [\"relu\", 5]]}",
             "recurrent[1] ('relu', 5): node 1 can read states 0..1 only"},
            {&json_like, "{\"recurrent\": [[\"tanh\", 0]], \"concat\": [\"1\"]}",
             "concat holds \"1\""},
        };
        for (const Case& c : cases) {
            CAPTURE(c.text);
            CHECK(text_error(c.text) == *c.form + c.fault);
        }
        std::string many = "Genotype(recurrent=[";
        for (int k = 0; k < 17; ++k) many += "('tanh', 0), ";
        CHECK(has(text_error(many + "])"), "more than 16 genes"));

        CHECK(text_error("[1, 2]") == like + "expected 'Genotype(' at character 1");
        CHECK(has(text_error("{\"recurrent\": "), "g: expected a genotype like {"));
        CHECK(
            has(error_of([] { resolve_recurrent_genotype("NOPE"); }),
                "--genotype NOPE: not a built-in recurrent genotype (DARTS, DARTS_V1, DARTS_V2)"));
    }
}  // TEST_SUITE
