// ENAS micro mode: the micro controller (models/enas/micro.h) against the walk of micro.h written
// out in double, a normalised distribution, central-difference gradients, valid sampled cells
// whose genotypes the DARTS parser and an EvalNetwork accept, and a bandit it learns; the child
// inside the supernet (SearchNetwork::forward_discrete) against the supernet's own forward with
// one-hot α, and the ops its gradient reaches; a tiny MicroSearch that runs, resumes bit for bit
// from its checkpoint in both reward modes, and writes and reads its options.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/darts/eval_network.h"
#include "models/darts/search_network.h"
#include "models/enas/micro.h"
#include "models/enas/micro_search.h"
#include "tests/enas_cases.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::enas;

namespace {

using namespace cudarts::test;

const std::vector<std::string> kThreeOps = {"none", "max_pool_3x3", "sep_conv_3x3", "skip_connect"};

// ----- the walk of micro.h in double -----

struct Ref {
    double log_prob = 0, entropy = 0;
};

Ref reference(const MicroController& ctl, const MicroArch& arch) {
    RefPolicy p(ctl.settings(), ctl.weights());
    const size_t H = p.H, m = ctl.ops().size();
    Ref r;
    auto choice = [&](Vec logits, int k) {
        for (double& x : logits) x = p.T(x);
        const Vec lp = log_softmax_d(logits);
        r.log_prob += lp[size_t(k)];
        for (double q : lp) r.entropy -= std::exp(q) * q;
    };
    const Vec g(p.g_emb.begin(), p.g_emb.end());
    for (const std::vector<MicroNode>* cell : {&arch.normal, &arch.reduce}) {
        std::vector<Vec> anchors, keys;
        Vec input = g;
        for (int k = 0; k < 2; ++k) {
            p.step(input);
            anchors.push_back(Vec(H, 0.0));
            keys.push_back(vecmat(p.h, p.w1, H));
        }
        for (const MicroNode& n : *cell) {
            for (int idx : {n.input1, n.input2}) {
                p.step(input);
                choice(p.attention(keys), idx);
                input = anchors[size_t(idx)];
            }
            for (int op : {n.op1, n.op2}) {
                p.step(input);
                choice(vecmat(p.h, p.w_soft, m), op);
                input = p.embedding(op);
            }
            p.step(input);
            anchors.push_back(p.h);
            keys.push_back(vecmat(p.h, p.w1, H));
            input = g;
        }
    }
    return r;
}

// Every cell of one node over m ops: inputs 0..1 twice, ops twice.
std::vector<MicroNode> all_nodes0(int m) {
    std::vector<MicroNode> out;
    for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b)
            for (int x = 0; x < m; ++x)
                for (int y = 0; y < m; ++y) out.push_back({a, b, x, y});
    return out;
}

// ----- the child inside the supernet -----

SearchNetConfig tiny_net() {
    SearchNetConfig cfg;
    cfg.classes = 4;
    cfg.init_channels = 4;
    cfg.layers = 3;  // cells 1 and 2 reduce
    cfg.nodes = 2;   // 5 edges
    return cfg;
}

// Two nodes per cell, no edge used twice, convolutions where gradients can be seen.
Genotype tiny_genotype() {
    Genotype g;
    g.normal = {{"sep_conv_3x3", 1}, {"dil_conv_3x3", 0}, {"skip_connect", 2}, {"sep_conv_5x5", 0}};
    g.reduce = {{"skip_connect", 0}, {"max_pool_3x3", 1}, {"dil_conv_5x5", 2}, {"sep_conv_3x3", 1}};
    g.normal_concat = g.reduce_concat = {2, 3};
    return g;
}

// α that makes forward() compute the genotype's child exactly: on a gene's edge the gene's op
// gets 0 and every other op -1e4, on an unused edge `none` gets 0. exp(-1e4) underflows to 0 in
// float, so each softmax row is exactly one-hot and the mixed sums add exact zeros.
void one_hot_alphas(SearchNetwork& net, const Genotype& g) {
    const std::vector<std::string>& prims = net.config().primitives;
    const int64_t k = int64_t(prims.size()), edges = net.config().edges();
    for (int cell = 0; cell < 2; ++cell) {
        const std::vector<Gene>& genes = cell == 0 ? g.normal : g.reduce;
        std::vector<float> a(size_t(edges * k), -1e4f);
        for (int64_t e = 0; e < edges; ++e) a[size_t(e * k)] = 0.f;  // none
        for (size_t i = 0; i < genes.size(); ++i) {
            const int64_t e = edges_for(int64_t(i / 2)) + genes[i].input;
            const int64_t op = std::find(prims.begin(), prims.end(), genes[i].op) - prims.begin();
            a[size_t(e * k)] = -1e4f;
            a[size_t(e * k + op)] = 0.f;
        }
        net.alphas()[cell].value().copy_(Tensor::from_vector(a, {edges, k}));
    }
}

// (cell, edge, primitive) of a weight named cells.C._ops.E._ops.P...; false for other weights.
bool op_of(const std::string& name, int& cell, int& edge, int& prim) {
    return std::sscanf(name.c_str(), "cells.%d._ops.%d._ops.%d.", &cell, &edge, &prim) == 3;
}

// ----- the search loop -----

MicroOptions tiny_search(bool katib) {
    MicroOptions o;
    o.net = tiny_net();
    o.controller = small_settings(3);
    o.controller.train_steps = 3;
    o.controller.learning_rate = 0.01;
    o.epochs = 2;
    o.child_steps = 3;
    o.batch_size = 8;
    o.eval_children = 2;
    o.katib_reward = katib;
    o.seed = 11;
    o.augment.crop_pad = 1;
    return o;
}

const ImageDataset& tiny_data() {
    static const ImageDataset d = make_synthetic(40, 3, 8, 4, 3);  // 20 + 20 images
    return d;
}

// Everything a resumed run must reproduce.
void check_same_state(MicroSearch& got, MicroSearch& want) {
    test::check_same_values(got.network().weights(), want.network().weights(), "weights");
    test::check_same_values(got.network().buffers(), want.network().buffers(), "buffers");
    test::check_same_values(got.controller().weights(), want.controller().weights(), "controller");
    CHECK(got.weight_optimizer().momentum_buffer().to_vector() ==
          want.weight_optimizer().momentum_buffer().to_vector());
    CHECK(got.controller().optimizer().exp_avg().to_vector() ==
          want.controller().optimizer().exp_avg().to_vector());
    CHECK(got.controller().optimizer().exp_avg_sq().to_vector() ==
          want.controller().optimizer().exp_avg_sq().to_vector());
    CHECK(got.controller().optimizer().steps() == want.controller().optimizer().steps());
    CHECK(got.controller().baseline() == want.controller().baseline());
    CHECK(got.reward_history() == want.reward_history());
    CHECK(got.best() == want.best());
    CHECK(got.best_acc() == want.best_acc());
    CHECK(got.epoch() == want.epoch());
}

nlohmann::json without_seconds(const MicroEpoch& e) {
    nlohmann::json j = e.to_json();
    j.erase("seconds");
    return j;
}

}  // namespace

TEST_SUITE("enas_micro") {
    TEST_CASE("enas_micro score: log-prob and entropy match the walk in double") {
        const std::vector<MicroArch> archs = {{{{0, 1, 0, 2}, {2, 0, 1, 1}, {3, 3, 2, 0}},
                                               {{1, 1, 2, 2}, {0, 2, 0, 1}, {1, 2, 1, 0}}},
                                              {{{1, 0, 2, 2}, {1, 1, 0, 0}, {0, 3, 1, 2}},
                                               {{0, 0, 0, 0}, {2, 2, 2, 2}, {3, 2, 0, 1}}}};
        for (const ControllerSettings& s : {small_settings(3), small_settings(3, std::nullopt),
                                            small_settings(3, 5.0, std::nullopt)}) {
            MicroController ctl(3, kThreeOps, s, 3);
            randomize(ctl, 0.9f, 17);
            for (const MicroArch& a : archs) {
                const Ref r = reference(ctl, a);
                check_score(ctl, a, r);
                CHECK(r.log_prob < -1.0);  // far from a sure choice: the check can fail
            }
        }
    }

    TEST_CASE("enas_micro score: zero weights give the uniform policy and its full entropy") {
        MicroController ctl(4, darts_primitives(), ControllerSettings{}, 1);
        ctl.weights().flat_values().zero_();
        MicroArch a;
        a.normal = {{0, 1, 3, 4}, {2, 0, 0, 6}, {3, 1, 2, 2}, {4, 3, 1, 0}};
        a.reduce = a.normal;
        NoGradGuard no_grad;
        const MicroPolicyTerms t = ctl.score(a);
        // Per cell: node i chooses two of i + 2 inputs and two of 7 ops.
        double lp = 0;
        for (int i = 0; i < 4; ++i) lp += 2 * std::log(1.0 / (i + 2)) + 2 * std::log(1.0 / 7);
        CHECK(value(t.log_prob) == doctest::Approx(2 * lp).epsilon(1e-6));
        CHECK(t.entropy == doctest::Approx(-2 * lp).epsilon(1e-6));
        CHECK(ctl.ops() ==
              std::vector<std::string>(darts_primitives().begin() + 1, darts_primitives().end()));
    }

    TEST_CASE("enas_micro score: exp(log-prob) sums to 1 over every one-node architecture") {
        MicroController ctl(1, kThreeOps, small_settings(3), 2);
        randomize(ctl, 1.f, 5);
        const std::vector<MicroNode> nodes = all_nodes0(3);
        double total = 0;
        for (const MicroNode& n : nodes)
            for (const MicroNode& r : nodes) total += prob(ctl, {{n}, {r}});
        CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
    }

    TEST_CASE("enas_micro score: gradients of log_prob against central differences") {
        for (const ControllerSettings& s :
             {small_settings(3), small_settings(3, std::nullopt, {})}) {
            MicroController ctl(2, kThreeOps, s, 4);
            randomize(ctl, 0.6f, 8);
            const MicroArch a{{{0, 1, 2, 0}, {2, 1, 1, 2}}, {{1, 1, 0, 0}, {0, 2, 2, 1}}};
            check_controller_gradients(ctl, [&] { return scale(ctl.score(a).log_prob, 0.7f); });
        }
        CHECK(tape_size() == 0);
    }

    TEST_CASE("enas_micro sample: valid cells, deterministic by seed, genotypes parse and build") {
        MicroController ctl(4, darts_primitives(), ControllerSettings{}, 7);
        randomize(ctl, 0.5f, 3);
        int distinct_ops = 0;
        std::vector<int> seen(ctl.ops().size(), 0);
        for (uint64_t seed = 0; seed < 100; ++seed) {
            Generator gen(seed), again(seed);
            const MicroArch a = ctl.sample(gen);
            CHECK(a == ctl.sample(again));
            CHECK(tape_size() == 0);
            CHECK_NOTHROW(ctl.check(a));
            for (const auto* cell : {&a.normal, &a.reduce})
                for (int i = 0; i < 4; ++i) {
                    const MicroNode& n = (*cell)[size_t(i)];
                    CHECK(n.input1 < i + 2);
                    CHECK(n.input2 < i + 2);
                    seen[size_t(n.op1)]++;
                }
            const Genotype g = ctl.genotype(a);
            CHECK(parse_genotype(to_darts_string(g)) == g);
            CHECK(genotype_from_json(to_json(g), "g") == g);
            for (const Gene& gene : g.normal) CHECK(gene.op != "none");
        }
        for (int k : seen) distinct_ops += k > 0;
        CHECK(distinct_ops == 7);

        // One of them as a tiny evaluation network.
        Generator gen(42);
        EvalNetConfig cfg;
        cfg.init_channels = 4;
        cfg.layers = 3;
        cfg.classes = 5;
        cfg.genotype = ctl.genotype(ctl.sample(gen));
        EvalNetwork net(cfg, Device::cpu(), 1);
        Generator drop(0);
        const Var x(Tensor::from_vector(test::uniform(2 * 3 * 8 * 8, 5), {2, 3, 8, 8}));
        const Tensor y = net.forward(x, {.training = false}, 0.f, drop).logits.value();
        CHECK(y.shape() == Shape{2, 5});
        for (float v : y.to_vector()) CHECK(std::isfinite(v));
    }

    TEST_CASE("enas_micro genotype: the DARTS form of a hand-made cell") {
        MicroController ctl(2, kThreeOps, small_settings(3), 1);
        const MicroArch a{{{1, 0, 1, 2}, {2, 2, 0, 1}}, {{0, 0, 2, 2}, {2, 1, 1, 0}}};
        const Genotype g = ctl.genotype(a);
        CHECK(to_darts_string(g) ==
              "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('max_pool_3x3', 2), "
              "('sep_conv_3x3', 2)], normal_concat=range(2, 4), reduce=[('skip_connect', 0), "
              "('skip_connect', 0), ('sep_conv_3x3', 2), ('max_pool_3x3', 1)], "
              "reduce_concat=range(2, 4))");
        const Genotype one = ctl.genotype(a, false);
        CHECK(one.reduce.empty());
        CHECK_FALSE(one.has_reduce);
    }

    TEST_CASE("enas_micro update: a bandit on the normal cell's first op is learned") {
        MicroController ctl(2, darts_primitives(), bandit_settings(), 21);
        const int planted = 3;  // sep_conv_3x3 among the 7 ops without none
        // P(op1 of node 0 == planted): the first three choices do not depend on it.
        auto p_planted = [&] {
            Generator gen(1234);
            int hits = 0;
            for (int i = 0; i < 400; ++i) hits += ctl.sample(gen).normal[0].op1 == planted;
            return hits / 400.0;
        };
        const double start = p_planted();
        CHECK(start == doctest::Approx(1.0 / 7).epsilon(0.4));
        train_bandit(ctl, 200, [&](const MicroArch& a) { return a.normal[0].op1 == planted; });
        const double end = p_planted();
        CHECK(end > 0.5);
        CHECK(ctl.baseline() > 0.3);
        CHECK(ctl.optimizer().steps() == 200);
    }

    TEST_CASE("enas_micro check and constructor: one-line InputErrors") {
        MicroController ctl(2, kThreeOps, small_settings(3), 1);
        const MicroArch good{{{0, 1, 0, 2}, {2, 1, 1, 2}}, {{1, 1, 0, 0}, {0, 2, 2, 1}}};
        CHECK_NOTHROW(ctl.check(good));
        MicroArch a = good;
        a.reduce.pop_back();
        test::check_names(test::error_of([&] { ctl.check(a); }), "micro architecture",
                          "reduce cell has 1 nodes, expected 2", true);
        a = good;
        a.normal[1].input2 = 4;
        test::check_names(test::error_of([&] { ctl.check(a); }),
                          "micro architecture: normal node 1", "input 4 outside 0..2", true);
        a = good;
        a.reduce[0].op2 = 3;
        test::check_names(test::error_of([&] { ctl.check(a); }),
                          "micro architecture: reduce node 0", "op 3 outside 0..2", true);
        test::check_names(test::error_of([&] { MicroController(0, kThreeOps, {}, 1); }), "nodes",
                          "expected 1..16", true);
        test::check_names(test::error_of([&] { MicroController(2, {"none"}, {}, 1); }),
                          "primitives", "besides 'none'", true);
        test::check_names(test::error_of([&] { ctl.update(good, std::nan("")); }), "reward",
                          "finite", true);
    }

    TEST_CASE("enas_micro forward_discrete: the supernet's forward with one-hot alphas, exactly") {
        NoGradGuard no_grad;
        SearchNetwork net(tiny_net(), Device::cpu(), 3), sup(tiny_net(), Device::cpu(), 3);
        const Genotype g = tiny_genotype();
        one_hot_alphas(sup, g);
        const Var x(Tensor::from_vector(test::uniform(3 * 3 * 8 * 8, 9), {3, 3, 8, 8}));
        for (bool training : {true, false}) {
            CAPTURE(training);
            const std::vector<float> got =
                net.forward_discrete(x, g, {.training = training}).value().to_vector();
            const std::vector<float> want =
                sup.forward(x, {.training = training}).value().to_vector();
            CHECK(test::check_close(got, want, 0, 0, "logits"));
            // Another genotype gives other logits: the comparison can fail.
            Genotype other = g;
            other.normal[0].input = 0;
            const std::vector<float> moved =
                net.forward_discrete(x, other, {.training = training, .track_stats = false})
                    .value()
                    .to_vector();
            CHECK(std::abs(moved[0] - want[0]) > 1e-6);
        }
        // Training mode moved the BN statistics of the used ops alike in both networks.
        const std::vector<float> a =
            net.buffers().get("cells.0._ops.1._ops.4.op.3.running_mean").value().to_vector();
        CHECK(a ==
              sup.buffers().get("cells.0._ops.1._ops.4.op.3.running_mean").value().to_vector());
        CHECK(a != std::vector<float>(a.size(), 0.f));
        CHECK(tape_size() == 0);
    }

    TEST_CASE("enas_micro forward_discrete: the gradient reaches exactly the genes' ops") {
        SearchNetwork net(tiny_net(), Device::cpu(), 5);
        const Genotype g = tiny_genotype();
        const Var x(Tensor::from_vector(test::uniform(2 * 3 * 8 * 8, 4), {2, 3, 8, 8}));
        const Tensor y = Tensor::from_vector(std::vector<int32_t>{1, 3}, {2});
        // A supernet backward first, so that every op holds a gradient that must not survive.
        backward(cross_entropy(net.forward(x), y), net.weights().vars());
        backward(cross_entropy(net.forward_discrete(x, g), y), net.weights().vars());
        int used = 0, unused = 0;
        for (int i = 0; i < net.weights().size(); ++i) {
            const std::string& name = net.weights().names()[size_t(i)];
            CAPTURE(name);
            double sq = 0;
            for (float v : net.weights()[i].grad().to_vector()) sq += double(v) * v;
            int cell = 0, edge = 0, prim = 0;
            if (!op_of(name, cell, edge, prim)) {
                CHECK(sq > 0);  // stem, preprocessing, classifier
                continue;
            }
            const std::vector<Gene>& genes = net.config().is_reduction(cell) ? g.reduce : g.normal;
            bool chosen = false;
            for (size_t k = 0; k < genes.size(); ++k)
                chosen = chosen || (edges_for(int64_t(k / 2)) + genes[k].input == edge &&
                                    net.config().primitives[size_t(prim)] == genes[k].op);
            if (chosen) {
                CHECK(sq > 0);
                ++used;
            } else {
                CHECK(sq == 0);
                ++unused;
            }
        }
        CHECK(used > 10);
        CHECK(unused > used);
    }

    TEST_CASE("enas_micro forward_discrete: genotypes that do not fit are InputErrors") {
        SearchNetwork net(tiny_net(), Device::cpu(), 1);
        const Var x(Tensor::from_vector(test::uniform(1 * 3 * 8 * 8, 4), {1, 3, 8, 8}));
        Genotype g = tiny_genotype();
        g.normal.pop_back();
        test::check_names(test::error_of([&] { net.forward_discrete(x, g); }), "genotype: normal",
                          "expected 4 genes (two per node of this search network), got 3", true);
        g = tiny_genotype();
        g.reduce[2].input = 3;
        test::check_names(test::error_of([&] { net.forward_discrete(x, g); }),
                          "genotype: reduce gene 2 (node 1)", "input 3 outside 0..2", true);
        g = tiny_genotype();
        g.normal[1].op = "none";
        test::check_names(test::error_of([&] { net.forward_discrete(x, g); }),
                          "genotype: normal gene 1 (node 0)", "op 'none'", true);
        // Katib's names in the genotype or in the network's list name the same columns.
        g = tiny_genotype();
        g.normal[0].op = "separable_convolution_3x3";
        CHECK(net.forward_discrete(x, g, {.training = false}).value().to_vector() ==
              net.forward_discrete(x, tiny_genotype(), {.training = false}).value().to_vector());
        // A one-cell network reads no reduce genes.
        SearchNetConfig one = tiny_net();
        one.layers = 1;
        SearchNetwork single(one, Device::cpu(), 1);
        g = tiny_genotype();
        g.reduce.clear();
        CHECK(single.forward_discrete(x, g).value().shape() == Shape{1, 4});
        g = tiny_genotype();
        g.normal_concat = {3};
        test::check_names(test::error_of([&] { net.forward_discrete(x, g); }),
                          "genotype: normal_concat", "range(2, 4)", true);
        clear_tape();
    }

    TEST_CASE("enas_micro search: two epochs train, score and return a genotype train accepts") {
        MicroSearch run(tiny_search(false), tiny_data(), Device::cpu());
        CHECK(run.train_images() == 20);
        CHECK(run.valid_images() == 20);
        int calls = 0;
        std::vector<MicroEpoch> epochs;
        while (!run.done())
            epochs.push_back(run.run_epoch([&](const StepInfo& s) {
                CHECK(s.steps == 3);
                CHECK(std::isfinite(s.loss));
                ++calls;
            }));
        CHECK(calls == 6);
        CHECK(run.epoch() == 2);
        for (const MicroEpoch& e : epochs) {
            CHECK(std::isfinite(e.child_loss));
            CHECK(e.child_loss > 0.5);  // about log 4 for an untrained 4-class net
            CHECK(e.best_acc >= 0);
            CHECK(e.best_acc <= 1);
            CHECK(e.reward_mean >= 0);
            CHECK(e.reward_mean <= 1);
            // The best child's accuracy counts whole images of the 20 held out.
            CHECK(std::abs(e.best_acc * 20 - std::round(e.best_acc * 20)) < 1e-9);
            CHECK(e.baseline != 0);
        }
        CHECK(epochs[0].lr == doctest::Approx(0.025));
        CHECK(epochs[1].lr == doctest::Approx(0.013));
        CHECK(run.best() == epochs[1].best);
        CHECK(run.best_acc() == epochs[1].best_acc);
        const Genotype parsed = parse_genotype(to_darts_string(run.best()));
        CHECK(parsed == run.best());
        CHECK(parsed.nodes() == 2);
        CHECK(run.controller().optimizer().steps() == 6);
        CHECK(run.reward_history().empty());
        CHECK(tape_size() == 0);
    }

    TEST_CASE("enas_micro search: save, load and run equals the uninterrupted run bit for bit") {
        for (bool katib : {false, true}) {
            CAPTURE(katib);
            test::TempDir dir("enas_micro");
            const MicroOptions opt = tiny_search(katib);
            MicroSearch whole(opt, tiny_data(), Device::cpu());
            whole.run_epoch();
            const MicroEpoch last = whole.run_epoch();

            MicroSearch first(opt, tiny_data(), Device::cpu());
            first.run_epoch();
            first.save(dir.file("ckpt.safetensors"), {{"note", "x"}});
            MicroSearch resumed(opt, tiny_data(), Device::cpu());
            resumed.load(dir.file("ckpt.safetensors"));
            CHECK(resumed.epoch() == 1);
            check_same_state(resumed, first);
            const MicroEpoch again = resumed.run_epoch();
            check_same_state(resumed, whole);
            CHECK(without_seconds(again) == without_seconds(last));
            CHECK(resumed.done());
            if (katib) CHECK(whole.reward_history().size() == 6);
        }
    }

    TEST_CASE("enas_micro search: options as JSON and their errors") {
        MicroOptions o = tiny_search(true);
        o.controller.temperature = std::nullopt;
        o.controller.entropy_weight = 0.1;
        o.net.primitives = {"none", "skip_connect", "sep_conv_3x3"};
        const MicroOptions back = MicroOptions::from_json(o.to_json(), "opts");
        CHECK(back.to_json() == o.to_json());
        CHECK_FALSE(back.controller.temperature.has_value());
        CHECK(back.controller.entropy_weight == 0.1);
        CHECK(back.katib_reward);
        CHECK(back.child_steps == 3);

        nlohmann::json j = o.to_json();
        j["controller"]["controller_tanh_const"] = "-1";
        test::check_names(test::error_of([&] { MicroOptions::from_json(j, "opts"); }),
                          "opts: controller: controller_tanh_const", "expected a number > 0", true);
        j = o.to_json();
        j["child_steps"] = "many";
        test::check_names(test::error_of([&] { MicroOptions::from_json(j, "opts"); }), "opts",
                          "'child_steps'", true);
        o = tiny_search(false);
        o.eval_children = 0;
        test::check_names(test::error_of([&] { o.validate(); }), "eval_children",
                          "expected at least 1", true);
        o = tiny_search(false);
        o.train_portion = 0.01;
        test::check_names(test::error_of([&] { MicroSearch(o, tiny_data(), Device::cpu()); }),
                          "train_portion", "leaves one half empty", true);
        // A checkpoint of another model is refused with the file's name.
        test::TempDir dir("enas_micro_opts");
        MicroSearch a(tiny_search(false), tiny_data(), Device::cpu());
        a.save(dir.file("a.safetensors"));
        MicroOptions wider = tiny_search(false);
        wider.net.init_channels = 6;
        MicroSearch b(wider, tiny_data(), Device::cpu());
        test::check_names(test::error_of([&] { b.load(dir.file("a.safetensors")); }),
                          dir.file("a.safetensors"), "'init_channels' is 4", true);
    }
}
