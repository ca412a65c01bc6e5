// The ENAS controller (models/enas/controller.h): score's log-probability, entropy and skip
// penalty against the walk of 2.7 written out in double, and by hand for zero weights at Katib's
// size (the uniform policy); a normalised distribution over every architecture; central-difference
// gradients for every parameter; sampled architectures that are valid, seeded and distributed as
// score says; the REINFORCE step worked out by hand (baseline, loss, Adam's first step); a bandit
// it learns; Katib's settings and their errors.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/enas/controller.h"
#include "tests/enas_cases.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::enas;

namespace {

using namespace cudarts::test;

ControllerSettings small(std::optional<double> temperature = 5.0,
                         std::optional<double> tanh_const = 2.25) {
    return small_settings(4, temperature, tanh_const);
}

// ----- the walk of reference/katib.md 2.7 in double -----

struct Ref {
    double log_prob = 0, entropy = 0, penalty = 0;
    int skips = 0;
};

Ref reference(const Controller& ctl, const Architecture& arch) {
    RefPolicy p(ctl.settings(), ctl.weights());
    const size_t H = p.H, m = size_t(ctl.num_ops());
    auto choice = [](Ref& r, const Vec& logp, int k) {
        r.log_prob += logp[size_t(k)];
        r.entropy += -logp[size_t(k)] * std::exp(logp[size_t(k)]);
    };
    Ref r;
    Vec input(p.g_emb.begin(), p.g_emb.end());
    std::vector<Vec> hs, hw1s;
    const double t[2] = {1 - p.s.skip_target, p.s.skip_target};
    for (size_t l = 0; l < arch.size(); ++l) {
        p.step(input);
        Vec logits = vecmat(p.h, p.w_soft, m);
        for (double& x : logits) x = p.T(x);
        const int op = arch[l][0];
        choice(r, log_softmax_d(logits), op);
        p.step(p.embedding(op));
        input = Vec(p.g_emb.begin(), p.g_emb.end());
        if (l > 0) {
            const Vec q = p.attention(hw1s);
            Vec sum_h(H, 0.0);
            int count = 0;
            for (size_t j = 0; j < l; ++j) {
                const Vec L = {p.T(-q[j]), p.T(q[j])};
                const int bit = arch[l][j + 1];
                choice(r, log_softmax_d(L), bit);
                for (int cl = 0; cl < 2; ++cl)
                    r.penalty += sig(L[size_t(cl)]) * std::log(sig(L[size_t(cl)]) / t[cl]) /
                                 double(arch.size() - 1);
                if (bit) {
                    ++count;
                    for (size_t k = 0; k < H; ++k) sum_h[k] += hs[j][k];
                }
            }
            r.skips += count;
            for (size_t k = 0; k < H; ++k) input[k] = sum_h[k] / (1.0 + count);
        }
        hs.push_back(p.h);
        hw1s.push_back(vecmat(p.h, p.w1, H));
    }
    return r;
}

// Every architecture of n layers over m ops, in order.
std::vector<Architecture> all_architectures(int n, int m) {
    std::vector<Architecture> out{{}};
    for (int l = 0; l < n; ++l) {
        std::vector<Architecture> next;
        for (const Architecture& a : out)
            for (int op = 0; op < m; ++op)
                for (int bits = 0; bits < (1 << l); ++bits) {
                    Architecture b = a;
                    std::vector<int> row{op};
                    for (int j = 0; j < l; ++j) row.push_back((bits >> j) & 1);
                    b.push_back(row);
                    next.push_back(b);
                }
        out = next;
    }
    return out;
}

}  // namespace

TEST_SUITE("enas_controller") {
    TEST_CASE("enas_controller score: log-prob, entropy and skip penalty match 2.7 in double") {
        const std::vector<Architecture> archs = {
            {{2}, {1, 1}, {3, 0, 1}}, {{0}, {3, 0}, {1, 1, 1}}, {{3}, {3, 0}, {0, 0, 0}}};
        std::vector<ControllerSettings> variants = {small(), small(std::nullopt), small(5.0, {}),
                                                    small(std::nullopt, std::nullopt), small()};
        variants.back().skip_target = 0.3;
        for (size_t vi = 0; vi < variants.size(); ++vi) {
            CAPTURE(vi);
            Controller ctl(3, 4, variants[vi], 17);
            randomize(ctl, 1.f, 100 + vi);
            for (const Architecture& a : archs) {
                const Ref r = reference(ctl, a);
                const PolicyTerms t = check_score(ctl, a, r);
                CHECK(value(t.skip_penalty) == doctest::Approx(r.penalty).epsilon(1e-5));
                CHECK(t.skip_count == r.skips);
                CHECK(t.skip_rate == doctest::Approx(r.skips / 3.0));
            }
        }
        // One layer: no skips, the penalty is 0, so is the rate.
        Controller one(1, 4, small(), 3);
        randomize(one, 1.f, 5);
        NoGradGuard no_grad;
        const PolicyTerms t = one.score({{1}});
        CHECK(value(t.log_prob) == doctest::Approx(reference(one, {{1}}).log_prob).epsilon(1e-5));
        CHECK(value(t.skip_penalty) == 0.0);
        CHECK(t.skip_rate == 0.0);
    }

    TEST_CASE("enas_controller score: zero weights at Katib's size give the uniform policy") {
        // All weights 0: every gate is 1/2 and g = 0, so h = 0, every logit is 0, each op has
        // probability 1/106 and each bit 1/2; the penalty of layer l is l (1/2 log(0.5 / 0.6) +
        // 1/2 log(0.5 / 0.4)).
        Controller ctl(8, 106, ControllerSettings{}, 1);
        ctl.weights().flat_values().zero_();
        const Architecture& arch = kKatibExample;  // the example of 2.3
        const PolicyTerms t = ctl.score(arch);
        const double lm = std::log(106.0), l2 = std::log(2.0);
        CHECK(value(t.log_prob) == doctest::Approx(-8 * lm - 28 * l2).epsilon(1e-5));
        CHECK(t.entropy == doctest::Approx(8 * lm / 106 + 28 * l2 / 2).epsilon(1e-5));
        const double per_bit = 0.5 * std::log(0.5 / 0.6) + 0.5 * std::log(0.5 / 0.4);
        CHECK(value(t.skip_penalty) == doctest::Approx(28 * per_bit / 7).epsilon(1e-4));
        CHECK(t.skip_count == 11);
        CHECK(t.skip_rate == doctest::Approx(11 / 28.0));
        clear_tape();  // scored with grad and not back-propagated
    }

    TEST_CASE("enas_controller score: exp(log-prob) sums to 1 over all 512 architectures") {
        for (const ControllerSettings& s : {small(), small(std::nullopt, std::nullopt)}) {
            Controller ctl(3, 4, s, 9);
            randomize(ctl, 1.f, 21);
            double total = 0;
            for (const Architecture& a : all_architectures(3, 4)) total += prob(ctl, a);
            CHECK(total == doctest::Approx(1.0).epsilon(1e-4));
        }
    }

    TEST_CASE("enas_controller score: gradients of log_prob * c + skip_penalty, every parameter") {
        for (const ControllerSettings& s : {small(), small(std::nullopt, std::nullopt)}) {
            Controller ctl(3, 4, s, 4);
            randomize(ctl, 0.6f, 8);
            for (const Architecture& a :
                 {Architecture{{2}, {1, 1}, {3, 1, 1}}, Architecture{{0}, {3, 0}, {1, 0, 1}}}) {
                check_controller_gradients(ctl, [&] {
                    const PolicyTerms t = ctl.score(a);
                    return add(scale(t.log_prob, 0.7f), t.skip_penalty);
                });
            }
        }
        CHECK(tape_size() == 0);
    }

    TEST_CASE("enas_controller sample: valid rows, deterministic by seed, no tape") {
        Controller ctl(5, 6, ControllerSettings{}, 7);
        for (uint64_t seed = 0; seed < 200; ++seed) {
            Generator gen(seed);
            const Architecture a = ctl.sample(gen);
            REQUIRE(a.size() == 5);
            for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].size() == i + 1);
            CHECK_NOTHROW(ctl.check(a));
        }
        CHECK(tape_size() == 0);
        // Katib's size: 8 layers, 106 ops, H = 64; one step gives finite numbers.
        Controller katib(8, 106, ControllerSettings{}, 3);
        Generator gk(1);
        const Architecture ak = katib.sample(gk);
        CHECK_NOTHROW(katib.check(ak));
        const UpdateStats st = katib.update(ak, 0.7);
        CHECK(std::isfinite(st.loss));
        CHECK(st.grad_norm > 0);
        CHECK(tape_size() == 0);
        Generator g1(42), g2(42), g3(43);
        bool differ = false;
        for (int k = 0; k < 5; ++k) {
            const Architecture a = ctl.sample(g1);
            CHECK(a == ctl.sample(g2));
            differ = differ || a != ctl.sample(g3);
        }
        CHECK(differ);
        // The same seed for the weights gives the same controller.
        Controller twin(5, 6, ControllerSettings{}, 7), other(5, 6, ControllerSettings{}, 8);
        CHECK(twin.weights().flat_values().to_vector() == ctl.weights().flat_values().to_vector());
        CHECK(other.weights().flat_values().to_vector() != ctl.weights().flat_values().to_vector());
        const std::vector<float> w = ctl.weights().flat_values().to_vector();
        float lo = 1, hi = -1;
        for (float x : w) lo = std::min(lo, x), hi = std::max(hi, x);
        CHECK(lo >= -0.01f);
        CHECK(hi <= 0.01f);
        CHECK(hi - lo > 0.019f);
    }

    TEST_CASE("enas_controller sample: frequencies follow exp(score)") {
        const ControllerSettings s = small(std::nullopt, std::nullopt);
        // The first op of a 3-layer controller against the 1-layer one with the same weights.
        Controller c3(3, 4, s, 5), c1(1, 4, s, 0);
        randomize(c3, 1.5f, 31);
        c1.weights().flat_values().copy_(c3.weights().flat_values());
        const int n = 4000;
        std::vector<int> count(4, 0);
        Generator gen(11);
        for (int i = 0; i < n; ++i) ++count[size_t(c3.sample(gen)[0][0])];
        double pmin = 1, pmax = 0;
        for (int k = 0; k < 4; ++k) {
            const double p = prob(c1, {{k}});
            pmin = std::min(pmin, p), pmax = std::max(pmax, p);
            CAPTURE(k);
            CHECK(std::abs(count[size_t(k)] / double(n) - p) <= 4.5 * std::sqrt(p * (1 - p) / n));
        }
        CHECK(pmax - pmin > 0.1);  // far from uniform, so a wrong distribution would show
        // The whole 2-layer architecture (op, op, skip bit): chi-square over the 32 outcomes.
        Controller c2(2, 4, s, 6);
        randomize(c2, 1.5f, 32);
        std::map<Architecture, int> seen;
        const int n2 = 6000;
        for (int i = 0; i < n2; ++i) ++seen[c2.sample(gen)];
        double chi2 = 0, chi2_uniform = 0;
        for (const Architecture& a : all_architectures(2, 4)) {
            const double expected = n2 * prob(c2, a), got = seen[a];
            chi2 += (got - expected) * (got - expected) / expected;
            chi2_uniform += (got - n2 / 32.0) * (got - n2 / 32.0) / (n2 / 32.0);
        }
        CHECK(seen.size() <= 32);
        CHECK(chi2 < 75);           // 31 degrees of freedom: P(chi2 > 75) < 1e-5
        CHECK(chi2_uniform > 300);  // the test can tell distributions apart
    }

    TEST_CASE("enas_controller update: baseline, loss and Adam's first step by hand") {
        ControllerSettings s = small();
        s.learning_rate = 0.01;
        Controller a(3, 4, s, 12), b(3, 4, s, 12);
        randomize(a, 0.5f, 13);
        b.weights().flat_values().copy_(a.weights().flat_values());
        const Architecture arch = {{1}, {2, 1}, {0, 1, 0}};
        // The loss of 2.8 on b: R, the baseline after its update, backward.
        const PolicyTerms t = b.score(arch);
        const double r = 0.6 + 1e-5 * t.entropy;
        const double base = 0.0 - (1 - 0.999) * (0.0 - r);
        const Var loss = add(scale(t.log_prob, float(-(r - base))), scale(t.skip_penalty, 0.8f));
        const double loss_value = value(loss);
        backward(loss);
        const std::vector<float> g = b.weights().flat_grads().to_vector();
        const std::vector<float> w0 = a.weights().flat_values().to_vector();

        const UpdateStats st = a.update(arch, 0.6);
        CHECK(tape_size() == 0);
        CHECK(st.reward == doctest::Approx(r).epsilon(1e-12));
        CHECK(st.baseline == doctest::Approx(base).epsilon(1e-12));
        CHECK(a.baseline() == st.baseline);
        CHECK(st.loss == doctest::Approx(loss_value).epsilon(1e-6));
        // The scored architecture's entropy and skip rate, as score gives them (the loops log
        // these).
        CHECK(st.entropy == t.entropy);
        CHECK(st.skip_rate == t.skip_rate);
        CHECK(st.skip_rate == doctest::Approx(2 / 3.0));
        double sq = 0;
        for (float x : g) sq += double(x) * x;
        CHECK(st.grad_norm == doctest::Approx(std::sqrt(sq)).epsilon(1e-5));
        // Adam's first step: m = 0.1 g, v = 0.001 g^2, lr sqrt(1 - 0.999) / (1 - 0.9) m / (sqrt v +
        // eps).
        const std::vector<float> w1 = a.weights().flat_values().to_vector();
        CHECK(a.optimizer().steps() == 1);
        for (size_t i = 0; i < w0.size(); ++i) {
            const double m = 0.1 * g[i], v = 0.001 * double(g[i]) * g[i];
            const double want = w0[i] - 0.01 * std::sqrt(0.001) / 0.1 * m / (std::sqrt(v) + 1e-8);
            CHECK(w1[i] == doctest::Approx(want).epsilon(1e-6));
        }
        // A restored baseline is the one the next update starts from.
        a.set_baseline(0.5);
        const double entropy = [&] {
            NoGradGuard no_grad;
            return a.score(arch).entropy;
        }();
        const UpdateStats st2 = a.update(arch, 0.2);
        const double r2 = 0.2 + 1e-5 * entropy;
        CHECK(st2.baseline == doctest::Approx(0.5 - 0.001 * (0.5 - r2)).epsilon(1e-12));
    }

    TEST_CASE(
        "enas_controller update: a reward above the baseline makes the architecture likelier") {
        ControllerSettings s = small();
        s.learning_rate = 0.05;
        s.skip_weight = std::nullopt;
        s.entropy_weight = std::nullopt;
        Controller ctl(3, 4, s, 2);
        randomize(ctl, 0.3f, 3);
        const Architecture arch = {{3}, {0, 1}, {2, 0, 1}};
        const double before = prob(ctl, arch);
        const UpdateStats st = ctl.update(arch, 1.0);
        CHECK(st.reward == 1.0);
        CHECK(prob(ctl, arch) > before * 1.005);
        // Below the baseline: less likely.
        ctl.set_baseline(10.0);
        const double mid = prob(ctl, arch);
        ctl.update(arch, 1.0);
        CHECK(prob(ctl, arch) < mid / 1.005);
    }

    TEST_CASE("enas_controller update: a bandit on layer 0's op is learned") {
        const ControllerSettings s = bandit_settings();
        Controller ctl(3, 4, s, 21), probe(1, 4, s, 0);
        const int planted = 2;
        auto p_planted = [&] {
            probe.weights().flat_values().copy_(ctl.weights().flat_values());
            return prob(probe, {{planted}});
        };
        const double start = p_planted();
        CHECK(start == doctest::Approx(0.25).epsilon(0.05));
        train_bandit(ctl, 300, [&](const Architecture& a) { return a[0][0] == planted; });
        const double end = p_planted();
        CHECK(end > 0.5);
        CHECK(end > start + 0.25);
        CHECK(ctl.baseline() > 0.3);  // the moving average of a mostly-rewarded policy
    }

    TEST_CASE("enas_controller check and constructor: one-line InputErrors") {
        Controller ctl(3, 4, small(), 1);
        test::check_names(test::error_of([&] {
                              ctl.check({{1}, {2, 0}});
                          }),
                          "architecture", "expected 3 rows", true);
        test::check_names(test::error_of([&] {
                              ctl.check({{1}, {2}, {0, 1, 1}});
                          }),
                          "architecture row 2", "expected 2 integers", true);
        test::check_names(test::error_of([&] {
                              ctl.check({{4}, {2, 0}, {0, 1, 1}});
                          }),
                          "architecture row 1", "op 4 outside 0..3", true);
        test::check_names(test::error_of([&] {
                              ctl.check({{-1}, {2, 0}, {0, 1, 1}});
                          }),
                          "architecture row 1", "op -1", true);
        test::check_names(test::error_of([&] {
                              ctl.check({{1}, {2, 0}, {0, 2, 1}});
                          }),
                          "architecture row 3", "expected 0 or 1", true);
        CHECK_NOTHROW(ctl.check({{3}, {0, 1}, {2, 0, 1}}));
        CHECK_THROWS_AS(ctl.update({{1}}, 0.5), InputError);
        CHECK_THROWS_AS(ctl.update({{3}, {0, 1}, {2, 0, 1}}, std::nan("")), InputError);
        CHECK(tape_size() == 0);
        CHECK_THROWS_AS(Controller(0, 4, small(), 1), InputError);
        CHECK_THROWS_AS(Controller(3, 0, small(), 1), InputError);
        ControllerSettings s = small();
        s.skip_target = 1.0;
        test::check_names(test::error_of([&] { Controller(3, 4, s, 1); }), "controller_skip_target",
                          "infinite", true);
        s.skip_weight = std::nullopt;
        CHECK_NOTHROW(Controller(3, 4, s, 1));
        s.hidden_size = 0;
        test::check_names(test::error_of([&] { Controller(3, 4, s, 1); }), "controller_hidden_size",
                          ">= 1", true);
    }

    TEST_CASE("enas_controller settings: Katib's names, defaults, None and ranges") {
        const ControllerSettings d = parse_controller_settings({});
        CHECK(d.hidden_size == 64);
        CHECK(d.temperature == 5.0);
        CHECK(d.tanh_const == 2.25);
        CHECK(d.entropy_weight == 1e-5);
        CHECK(d.baseline_decay == 0.999);
        CHECK(d.learning_rate == 5e-5);
        CHECK(d.skip_target == 0.4);
        CHECK(d.skip_weight == 0.8);
        CHECK(d.train_steps == 50);
        CHECK(d.log_every_steps == 10);
        const ControllerSettings s =
            parse_controller_settings({{"controller_hidden_size", "32"},
                                       {"controller_temperature", "None"},
                                       {"controller_tanh_const", "None"},
                                       {"controller_entropy_weight", "None"},
                                       {"controller_baseline_decay", "1"},
                                       {"controller_learning_rate", "1e-3"},
                                       {"controller_skip_target", "1"},
                                       {"controller_skip_weight", "None"},
                                       {"controller_train_steps", "7"},
                                       {"controller_log_every_steps", "2"}});
        CHECK(s.hidden_size == 32);
        CHECK(!s.temperature);
        CHECK(!s.tanh_const);
        CHECK(!s.entropy_weight);
        CHECK(s.baseline_decay == 1.0);
        CHECK(s.learning_rate == 1e-3);
        CHECK(s.skip_target == 1.0);
        CHECK(!s.skip_weight);
        CHECK(s.train_steps == 7);
        CHECK(s.log_every_steps == 2);
        CHECK(parse_controller_settings({{"controller_temperature", "2.5"}}).temperature == 2.5);

        const std::vector<std::pair<std::string, std::string>> bad = {
            {"controller_hidden_size", "0"},      {"controller_hidden_size", "64.0"},
            {"controller_hidden_size", "None"},   {"controller_temperature", "0"},
            {"controller_temperature", "-1"},     {"controller_temperature", "abc"},
            {"controller_tanh_const", "0"},       {"controller_entropy_weight", "0"},
            {"controller_entropy_weight", "nan"}, {"controller_baseline_decay", "0"},
            {"controller_baseline_decay", "1.5"}, {"controller_baseline_decay", "None"},
            {"controller_learning_rate", "0"},    {"controller_learning_rate", "1.01"},
            {"controller_skip_target", "0"},      {"controller_skip_target", "1.2"},
            {"controller_skip_weight", "0"},      {"controller_skip_weight", "-0.8"},
            {"controller_train_steps", "0"},      {"controller_train_steps", ""},
            {"controller_log_every_steps", "0"},  {"controller_log_every_steps", "1x"},
            {"controller_hidden_sizes", "64"},    {"num_layers", "8"}};
        for (const auto& kv : bad) {  // no structured binding: clang 14 cannot capture one
            CAPTURE(kv.first);
            CAPTURE(kv.second);
            test::check_names(test::error_of([&] { parse_controller_settings({kv}); }), kv.first,
                              "", true);
        }
    }
}
