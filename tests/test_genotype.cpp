// Genotypes (models/darts/genotype.h): the published DARTS_V1/V2 strings byte for byte, derivation
// on hand-built alphas (clear winners, exact ties, a dominant `none`, Katib's column order, and a
// case where softmax and Katib's raw-logit rule keep different edges, both worked out by hand),
// round trips through all three text forms, Katib's one-cell form, and one InputError per kind of
// malformed genotype, each naming the input.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/fileio.h"
#include "kernels/check.h"
#include "models/darts/genotype.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::error_of;
namespace fs = std::filesystem;

namespace {

// Copied from reference/darts.md section 5 (the reference's genotypes.py).
const std::string kDartsV1 =
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])";
const std::string kDartsV2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

// Alpha logits for `nodes` nodes over `prims`, all zero until set by name.
struct Alpha {
    int nodes;
    std::vector<std::string> prims;
    std::vector<float> v;
    Alpha(int n, std::vector<std::string> p)
        : nodes(n), prims(std::move(p)), v(size_t(rows() * int(prims.size())), 0.f) {}
    int rows() const { return int(edges_for(nodes)); }
    // Row of edge j into node i.
    static int row(int node, int j) { return node * (node + 3) / 2 + j; }
    Alpha& set(int node, int j, const std::string& op, float x) {
        for (size_t c = 0; c < prims.size(); ++c)
            if (prims[c] == op) v[size_t(row(node, j)) * prims.size() + c] = x;
        return *this;
    }
    std::vector<Gene> derive(DeriveRule rule = DeriveRule::kSoftmax) const {
        return derive_cell(v.data(), rows(), prims, nodes, rule);
    }
};

bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

const std::vector<std::string> kOfficial = darts_primitives();

}  // namespace

TEST_SUITE("genotype") {
    TEST_CASE(
        "genotype: DARTS_V1 and DARTS_V2 print as the reference's genotypes.py, byte for byte") {
        REQUIRE(builtin_genotype("DARTS_V1"));
        REQUIRE(builtin_genotype("DARTS_V2"));
        CHECK(to_darts_string(*builtin_genotype("DARTS_V1")) == kDartsV1);
        CHECK(to_darts_string(*builtin_genotype("DARTS_V2")) == kDartsV2);
        CHECK(*builtin_genotype("DARTS") == *builtin_genotype("DARTS_V2"));
        CHECK(!(*builtin_genotype("DARTS_V1") == *builtin_genotype("DARTS_V2")));
        CHECK(!builtin_genotype("DARTS_V3"));
        CHECK(!builtin_genotype("darts"));
        // print(parse(s)) == s, and the parsed genes are the built-in ones.
        CHECK(to_darts_string(parse_genotype(kDartsV1)) == kDartsV1);
        CHECK(to_darts_string(parse_genotype(kDartsV2)) == kDartsV2);
        CHECK(parse_genotype(kDartsV1) == *builtin_genotype("DARTS_V1"));
    }

    TEST_CASE("genotype: primitive names map between the official and Katib spellings") {
        CHECK(kOfficial == std::vector<std::string>{"none", "max_pool_3x3", "avg_pool_3x3",
                                                    "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                                                    "dil_conv_3x3", "dil_conv_5x5"});
        const std::map<std::string, std::string> katib = {
            {"none", "none"},
            {"max_pool_3x3", "max_pooling_3x3"},
            {"avg_pool_3x3", "avg_pooling_3x3"},
            {"skip_connect", "skip_connection"},
            {"sep_conv_3x3", "separable_convolution_3x3"},
            {"sep_conv_5x5", "separable_convolution_5x5"},
            {"dil_conv_3x3", "dilated_convolution_3x3"},
            {"dil_conv_5x5", "dilated_convolution_5x5"}};
        for (const auto& [off, kat] : katib) {
            CHECK(official_primitive(kat) == off);
            CHECK(official_primitive(off) == off);
            CHECK(katib_primitive(off) == kat);
        }
        const std::string msg = error_of([] { official_primitive("sep_conv_7x7"); });
        CHECK(has(msg, "unknown primitive 'sep_conv_7x7'"));
        CHECK(has(msg, "dil_conv_5x5"));
        CHECK(has(msg, "separable_convolution_3x3"));
        CHECK(parse_primitive_list("sep_conv_3x3, max_pooling_3x3,none") ==
              std::vector<std::string>{"sep_conv_3x3", "max_pool_3x3", "none"});
        for (const char* bad : {"sep_conv_3x3,separable_convolution_3x3", "sep_conv_3x3,,none", "",
                                "conv_1x1", "none"}) {
            CAPTURE(bad);
            CHECK(error_of([&] { parse_primitive_list(bad); }).rfind("--primitives", 0) == 0);
        }
    }

    TEST_CASE("genotype: derivation keeps each node's two strongest edges with their argmax op") {
        // One non-zero logit v in a row of 8 gives strength e^v / (e^v + 7): the larger v, the
        // stronger. Node 3's edge 0 has a runner-up (1.9), so its strength is
        // e^2 / (e^2 + e^1.9 + 6) = 0.368, below edge 4's e^2.2 / (e^2.2 + 7) = 0.563, above edge
        // 3's e / (e + 7) = 0.280.
        Alpha a(4, kOfficial);
        a.set(0, 0, "sep_conv_3x3", 2.0f).set(0, 1, "skip_connect", 3.0f);
        a.set(1, 0, "max_pool_3x3", 1.0f).set(1, 1, "dil_conv_5x5", 2.5f);
        a.set(1, 2, "sep_conv_5x5", 1.5f);
        a.set(2, 0, "avg_pool_3x3", 0.5f).set(2, 2, "dil_conv_3x3", 4.0f);
        a.set(2, 3, "sep_conv_3x3", 3.0f);
        a.set(3, 0, "sep_conv_3x3", 2.0f).set(3, 0, "dil_conv_3x3", 1.9f);
        a.set(3, 3, "skip_connect", 1.0f).set(3, 4, "max_pool_3x3", 2.2f);
        const std::vector<Gene> want = {
            {"skip_connect", 1}, {"sep_conv_3x3", 0}, {"dil_conv_5x5", 1}, {"sep_conv_5x5", 2},
            {"dil_conv_3x3", 2}, {"sep_conv_3x3", 3}, {"max_pool_3x3", 4}, {"sep_conv_3x3", 0}};
        CHECK(a.derive() == want);
        CHECK(a.derive(DeriveRule::kKatibLogits) ==
              want);  // no none, equal normalisers: same edges
        const Genotype g = derive_genotype(a.v.data(), a.v.data(), kOfficial, 4);
        CHECK(to_darts_string(g) ==
              "Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 1), "
              "('sep_conv_5x5', 2), ('dil_conv_3x3', 2), ('sep_conv_3x3', 3), ('max_pool_3x3', 4), "
              "('sep_conv_3x3', 0)], normal_concat=range(2, 6), reduce=[('skip_connect', 1), "
              "('sep_conv_3x3', 0), ('dil_conv_5x5', 1), ('sep_conv_5x5', 2), ('dil_conv_3x3', 2), "
              "('sep_conv_3x3', 3), ('max_pool_3x3', 4), ('sep_conv_3x3', 0)], "
              "reduce_concat=range(2, 6))");
    }

    TEST_CASE("genotype: exact ties keep the lower input and the lowest column") {
        // Every row holds max_pool, avg_pool and sep_conv_3x3 tied at 1: the op is max_pool (column
        // 1). Node 1's edges 1 and 2 are identical and stronger than edge 0: kept as 1 then 2.
        Alpha a(2, kOfficial);
        for (int node = 0; node < 2; ++node)
            for (int j = 0; j < node + 2; ++j)
                for (const char* op : {"sep_conv_3x3", "avg_pool_3x3", "max_pool_3x3"})
                    a.set(node, j, op, node == 1 && j == 0 ? 0.5f : 1.0f);
        const std::vector<Gene> want = {
            {"max_pool_3x3", 0}, {"max_pool_3x3", 1}, {"max_pool_3x3", 1}, {"max_pool_3x3", 2}};
        CHECK(a.derive() == want);
        CHECK(a.derive(DeriveRule::kKatibLogits) == want);
        // All-zero rows: every edge ties, every op ties.
        Alpha z(1, kOfficial);
        CHECK(z.derive() == std::vector<Gene>{{"max_pool_3x3", 0}, {"max_pool_3x3", 1}});
    }

    TEST_CASE("genotype: a dominant none is never an op, and softmax and raw logits can differ") {
        // Node 0: edge 0 = (none 5, avg_pool 1), edge 1 = (skip 0.5). Node 1: edge 0 = (none 5,
        // sep3 1), edge 1 = (skip 0.5), edge 2 = (dil3 0.2). Softmax strengths: e^1 / (e^5 + e + 6)
        // = 0.0173 for the none rows, e^0.5 / (e^0.5 + 7) = 0.191, e^0.2 / (e^0.2 + 7) = 0.149. Raw
        // logits rank the none rows' best op (1) first.
        Alpha a(2, kOfficial);
        a.set(0, 0, "none", 5.f).set(0, 0, "avg_pool_3x3", 1.f).set(0, 1, "skip_connect", 0.5f);
        a.set(1, 0, "none", 5.f).set(1, 0, "sep_conv_3x3", 1.f).set(1, 1, "skip_connect", 0.5f);
        a.set(1, 2, "dil_conv_3x3", 0.2f);
        CHECK(a.derive() == std::vector<Gene>{{"skip_connect", 1},
                                              {"avg_pool_3x3", 0},
                                              {"skip_connect", 1},
                                              {"dil_conv_3x3", 2}});
        CHECK(a.derive(DeriveRule::kKatibLogits) == std::vector<Gene>{{"avg_pool_3x3", 0},
                                                                      {"skip_connect", 1},
                                                                      {"sep_conv_3x3", 0},
                                                                      {"skip_connect", 1}});
        // Without none, in Katib's order (none last): node 1 edge 0 = (max 3, sep3 3), edge 1 =
        // (max 2), edge 2 = (sep3 1). Softmax: e^3 / (1 + 2 e^3) = 0.488, e^2 / (e^2 + 2) = 0.787,
        // e / (e + 2) = 0.576 -> edges 1, 2. Logits: 3, 2, 1 -> edges 0 (max_pool wins the tie), 1.
        Alpha b(2, {"max_pooling_3x3", "separable_convolution_3x3", "none"});
        b.set(0, 0, "max_pooling_3x3", 1.f).set(0, 1, "separable_convolution_3x3", 1.f);
        b.set(1, 0, "max_pooling_3x3", 3.f).set(1, 0, "separable_convolution_3x3", 3.f);
        b.set(1, 1, "max_pooling_3x3", 2.f).set(1, 2, "separable_convolution_3x3", 1.f);
        CHECK(b.derive() == std::vector<Gene>{{"max_pool_3x3", 0},
                                              {"sep_conv_3x3", 1},
                                              {"max_pool_3x3", 1},
                                              {"sep_conv_3x3", 2}});
        CHECK(b.derive(DeriveRule::kKatibLogits) == std::vector<Gene>{{"max_pool_3x3", 0},
                                                                      {"sep_conv_3x3", 1},
                                                                      {"max_pool_3x3", 0},
                                                                      {"max_pool_3x3", 1}});
    }

    TEST_CASE("genotype: Katib's column order (none last) derives the same genotype") {
        const std::vector<std::string> katib = {
            "separable_convolution_3x3", "dilated_convolution_3x3",
            "dilated_convolution_5x5",   "avg_pooling_3x3",
            "max_pooling_3x3",           "skip_connection",
            "separable_convolution_5x5", "none"};
        const int nodes = 4, rows = int(edges_for(nodes)), cols = 8;
        std::vector<float> off = test::uniform(rows * cols, 7, -2.f, 2.f), kat(off.size());
        for (int r = 0; r < rows; r += 2) off[size_t(r * cols)] += 3.f;  // none the largest
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c) {
                const std::string name = official_primitive(katib[size_t(c)]);
                const auto src =
                    std::find(kOfficial.begin(), kOfficial.end(), name) - kOfficial.begin();
                kat[size_t(r * cols + c)] = off[size_t(r * cols + src)];
            }
        for (DeriveRule rule : {DeriveRule::kSoftmax, DeriveRule::kKatibLogits}) {
            const Genotype a = derive_genotype(off.data(), off.data(), kOfficial, nodes, rule);
            const Genotype b = derive_genotype(kat.data(), kat.data(), katib, nodes, rule);
            CHECK(a == b);
            CHECK(to_katib_string(a) == to_katib_string(b));
            for (const Gene& gene : a.normal) CHECK(gene.op != "none");
        }
    }

    TEST_CASE("genotype: the Katib form of the one-cell CPU example has katib.md's exact shape") {
        const std::vector<float> alpha = {0.1f, 0.f, 0.5f,
                                          0.f};  // [max_pooling_3x3, none] x 2 edges
        const Genotype g = derive_genotype(alpha.data(), nullptr, {"max_pooling_3x3", "none"}, 1);
        CHECK(!g.has_reduce);
        CHECK(
            to_katib_string(g) ==
            "Genotype(normal=[[('max_pooling_3x3',1),('max_pooling_3x3',0)]],normal_concat=range(2,"
            "3),reduce=[],reduce_concat=range(2,3))");
        CHECK(to_darts_string(g) ==
              "Genotype(normal=[('max_pool_3x3', 1), ('max_pool_3x3', 0)], normal_concat=range(2, "
              "3), "
              "reduce=[], reduce_concat=range(2, 3))");
        for (const Genotype& back :
             {parse_genotype(to_katib_string(g)), parse_genotype(to_darts_string(g)),
              genotype_from_json(to_json(g), "j")}) {
            CHECK(back == g);
            CHECK(!back.has_reduce);
        }
    }

    TEST_CASE("genotype: every form round-trips V1, V2 and a derived genotype") {
        const std::vector<float> n = test::uniform(14 * 8, 3), r = test::uniform(14 * 8, 4);
        const Genotype derived = derive_genotype(n.data(), r.data(), kOfficial, 4);
        for (const Genotype& g :
             {*builtin_genotype("DARTS_V1"), *builtin_genotype("DARTS_V2"), derived}) {
            CAPTURE(to_darts_string(g));
            CHECK(parse_genotype(to_darts_string(g)) == g);
            CHECK(parse_genotype(to_katib_string(g)) == g);
            CHECK(genotype_from_json(to_json(g), "j") == g);
            CHECK(parse_genotype(to_json_string(g)) == g);
            CHECK(parse_genotype("Best-Genotype=" + to_katib_string(g)) == g);
            CHECK(to_katib_string(parse_genotype(to_katib_string(g))) == to_katib_string(g));
        }
        CHECK(to_katib_string(*builtin_genotype("DARTS_V2")) ==
              "Genotype(normal=[[('separable_convolution_3x3',0),('separable_convolution_3x3',1)],"
              "[('separable_convolution_3x3',0),('separable_convolution_3x3',1)],"
              "[('separable_convolution_3x3',1),('skip_connection',0)],"
              "[('skip_connection',0),('dilated_convolution_3x3',2)]],normal_concat=[2,3,4,5],"
              "reduce=[[('max_pooling_3x3',0),('max_pooling_3x3',1)],[('skip_connection',2),"
              "('max_pooling_3x3',1)],[('max_pooling_3x3',0),('skip_connection',2)],"
              "[('skip_connection',2),('max_pooling_3x3',1)]],reduce_concat=[2,3,4,5])");
        const nlohmann::json j = to_json(*builtin_genotype("DARTS_V1"));
        CHECK(j["normal"][7] == nlohmann::json::array({"skip_connect", 2}));
        CHECK(j["reduce"][7] == nlohmann::json::array({"avg_pool_3x3", 0}));
        CHECK(j["normal_concat"] == nlohmann::json::array({2, 3, 4, 5}));
        CHECK(j.size() == 4);
    }

    TEST_CASE("genotype: parsing ignores spacing, quote style, name style and nesting") {
        const Genotype v2 = *builtin_genotype("DARTS_V2");
        std::string spaced =
            "  DARTS_V2 =\n Genotype( normal = [ (\"sep_conv_3x3\",0),('sep_conv_3x3'"
            ",1 ),('separable_convolution_3x3', 0), ('sep_conv_3x3', 1,), "
            "('sep_conv_3x3', 1), ('skip_connection', 0), ('skip_connect', 0), "
            "['dil_conv_3x3', 2],],\n\tnormal_concat = range( 2 , 6 ),reduce=[[('max_"
            "pool_3x3',0),('max_pool_3x3',1)],[('skip_connect',2),('max_pool_3x3',1)"
            "],[('max_pool_3x3',0),('skip_connect',2)],[('skip_connect',2),('max_poo"
            "l_3x3',1)]], reduce_concat=[2,3,4,5], )\n";
        const Genotype g = parse_genotype(spaced);
        CHECK(g == v2);
        CHECK(g.concat_as_range);  // taken from normal_concat
        // Concats may be left out (range(2, 2 + nodes)); JSON may nest per node or wrap the
        // genotype.
        CHECK(
            parse_genotype("Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0)], reduce=[])")
                .normal_concat == std::vector<int>{2});
        const nlohmann::json wrapped = nlohmann::json::parse(
            R"({"genotype": {"normal": [[["max_pooling_3x3", 1], ["sep_conv_3x3", 0]]], "reduce": []}})");
        const Genotype w = genotype_from_json(wrapped, "w.json");
        CHECK(w.normal == std::vector<Gene>{{"max_pool_3x3", 1}, {"sep_conv_3x3", 0}});
        CHECK(w.normal_concat == std::vector<int>{2});
        CHECK(w.reduce_concat == std::vector<int>{2});
        CHECK(!w.has_reduce);
    }

    TEST_CASE("genotype: each malformed genotype is one InputError line naming the input") {
        const std::string v2 = to_darts_string(*builtin_genotype("DARTS_V2"));
        const std::string short1 = "Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0)], ";
        struct Bad {
            std::string text, part;
        };
        const std::vector<Bad> bad = {
            // The quote of 'conv_7x7' is the 19th character.
            {"Genotype(normal=[('conv_7x7', 0), ('sep_conv_3x3', 1)], reduce=[])",
             "unknown primitive 'conv_7x7' (expected one of: none, max_pool_3x3"},
            {"Genotype(normal=[('conv_7x7', 0), ('sep_conv_3x3', 1)], reduce=[])",
             "at character 19"},
            {"Genotype(normal=[('none', 0), ('sep_conv_3x3', 1)], reduce=[])", "'none' cannot be"},
            {short1 + "reduce=[('skip_connect', 2), ('sep_conv_3x3', 0)])",
             "reduce gene ('skip_connect', 2): node 0 can take inputs 0..1 only at character"},
            {"Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('skip_connect', 1)], "
             "reduce=[])",
             "normal has 3 genes; expected 2 per node"},
            {"hello", "expected 'Genotype('"},
            {"", "expected 'Genotype('"},
            {v2.substr(0, v2.size() / 2), "Genotype(normal=[('sep_conv_3x3', 0), ...], ...): "},
            {v2.substr(0, v2.find("reduce=")), "at the end of the text"},
            {v2 + " extra", "unexpected text after the genotype"},
            {short1 + "reduce=[], colour=[])", "expected a field normal="},
            {short1 + "reduce=[], normal=[])", "field 'normal' given twice"},
            {short1 + "normal_concat=[2])", "the fields normal and reduce are required"},
            {short1 + "reduce=[[('skip_connect', 1), ('sep_conv_3x3', 0), ('skip_connect', 0)]])",
             "a node's list has 3 genes; expected 2"},
            {short1 + "reduce=[[('skip_connect', 1), ('sep_conv_3x3', 0)], ('skip_connect', 0)])",
             "mixes per-node lists and genes"},
            {short1 + "reduce=[], normal_concat=[2, 7])", "normal_concat entry 7 is not a state"},
            {short1 + "reduce=[], reduce_concat=range(3, 3))", "empty range"},
            {kDartsV1.substr(0, kDartsV1.find("reduce=")) +
                 "reduce=[('skip_connect', 1), ('sep_conv_3x3', 0)])",
             "reduce has 1 nodes but normal has 4"},
            {"Genotype(normal=[('skip_connect', -1), ('sep_conv_3x3', 0)], reduce=[])",
             "expected an input index but found '-'"},
            {"{\"normal\": [[\"skip_connect\", 1]], \"reduce\": [], \"colour\": 1}",
             "unknown key 'colour'"},
            {"{\"normal\": [[\"skip_connect\", 1, 2]], \"reduce\": []}",
             "normal[0] is [\"skip_connect\",1,2]; expected [\"op\", input]"},
            {"{\"normal\": [[\"skip_connect\", 1], [\"avg_pool_3x3\", 9]], \"reduce\": []}",
             "normal[1] ('avg_pool_3x3', 9): node 0 can take inputs 0..1 only"},
            {"{\"normal\": [[\"skip_connect\", 1]", "expected a genotype like {\"normal\""},
            // An index past int's range is refused, not wrapped (4294967296 would become 0).
            {"{\"normal\": [[\"skip_connect\", 4294967296], [\"avg_pool_3x3\", 0]], "
             "\"reduce\": []}",
             "normal[0] holds 4294967296, out of range for a node index"},
            {"{\"normal\": [[\"skip_connect\", 1], [\"avg_pool_3x3\", 0]], \"reduce\": [], "
             "\"normal_concat\": [2, -9223372036854775808]}",
             "normal_concat holds -9223372036854775808, out of range for a node index"},
            // A concat range is bounded before it is allocated (range(2, 999999999) is 4 GB).
            {short1 + "reduce=[], normal_concat=range(2, 999999999))",
             "range of more than 1024 node indices"},
            // A name is quoted printable and short, whatever it holds.
            {"Genotype(normal=[('conv\n7x7', 0), ('sep_conv_3x3', 1)], reduce=[])",
             "unknown primitive 'conv?7x7'"},
        };
        for (const Bad& b : bad) {
            CAPTURE(b.text);
            const std::string msg = error_of([&] { parse_genotype(b.text, "cell.txt"); });
            CHECK_MESSAGE(msg.rfind("cell.txt: expected a genotype like ", 0) == 0, msg);
            CHECK_MESSAGE(has(msg, b.part), msg);
        }
    }

    TEST_CASE(
        "genotype: --genotype takes a built-in name, a file in any form or the literal text") {
        const fs::path dir =
            fs::temp_directory_path() / ("cudarts_test_genotype_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
        const Genotype v1 = *builtin_genotype("DARTS_V1");
        const std::string json_path = (dir / "g.json").string(),
                          text_path = (dir / "g.txt").string();
        const std::string bad_path = (dir / "bad.txt").string();
        const std::string json_text = to_json_string(v1), katib_text = to_katib_string(v1) + "\n";
        write_file_atomic(json_path, json_text.data(), json_text.size());
        write_file_atomic(text_path, katib_text.data(), katib_text.size());
        write_file_atomic(bad_path, "Genotype(", 9);
        CHECK(resolve_genotype("DARTS_V1") == v1);
        CHECK(resolve_genotype("DARTS") == *builtin_genotype("DARTS_V2"));
        CHECK(resolve_genotype(json_path) == v1);
        CHECK(resolve_genotype(text_path) == v1);
        CHECK(resolve_genotype(kDartsV1) == v1);
        CHECK(has(error_of([&] { resolve_genotype(bad_path); }), "--genotype " + bad_path + ": "));
        const std::string missing = (dir / "nope.json").string();
        const std::string msg = error_of([&] { resolve_genotype(missing); });
        CHECK(msg.rfind("--genotype " + missing + ": not a built-in genotype", 0) == 0);
        CHECK(error_of([] { resolve_genotype("Genotype(normal=[])"); }).rfind("--genotype: ", 0) ==
              0);
        fs::remove_all(dir);
    }

}  // TEST_SUITE
