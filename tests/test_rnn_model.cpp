// The recurrent language model (models/rnn/model.h): the reference's parameter counts and names,
// one step worked out by hand in double, a carried hidden state equal to one long segment,
// dropout masks only in training, and gradients of the whole loss (NLL + TAR, masks fixed) through
// the search cell, its α and the evaluation cell against central differences over several steps.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "models/rnn/model.h"
#include "tests/rnn_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

RnnModelConfig small_search() { return test::small_rnn(7, 4, 3, 0.2f); }

RnnModelConfig small_eval() {
    RnnModelConfig c = small_search();
    c.genotype = parse_recurrent_genotype(
        "Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('tanh', 1), ('identity', 2)], "
        "concat=[2, 4, 1])");
    return c;
}

Tensor ids(const std::vector<int32_t>& v, int64_t steps, int64_t batch) {
    return Tensor::from_vector(v, {steps, batch});
}

// Numeric against analytic gradients of `loss` for every element of every tensor in `store`.
void check_store_grads(ParamStore& store, const std::function<Var()>& loss, double atol) {
    for (int p = 0; p < store.size(); ++p) {
        const std::string& name = store.names()[size_t(p)];
        CAPTURE(name);
        Tensor w = store[p].value();
        const std::vector<float> analytic = store[p].grad().to_vector();
        const std::vector<double> numeric = test::numeric_grad(
            [&](const std::vector<float>& v) {
                w.copy_(Tensor::from_vector(v, w.shape()));
                NoGradGuard no_grad;
                return double(loss().value().item());
            },
            w.to_vector(), 1e-2);
        CHECK(test::check_grad(analytic, numeric, name, 2e-2, atol));
    }
}

double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

TEST_SUITE("rnn_model") {
    TEST_CASE(
        "rnn_model: the reference's parameter counts and state_dict names at vocabulary 10k") {
        RnnModelConfig search;  // train_search.py: emsize = nhid = 300, 8 nodes
        RnnModel s(search, Device::cpu(), 3);
        CHECK(s.weights().total() == 4'810'000);
        std::vector<std::string> names{"encoder.weight", "rnns.0._W0"};
        for (int i = 0; i < 8; ++i) names.push_back("rnns.0._Ws." + std::to_string(i));
        names.push_back("decoder.bias");
        CHECK(s.weights().names() == names);
        CHECK(s.buffers().names() ==
              std::vector<std::string>{"rnns.0.bn.running_mean", "rnns.0.bn.running_var"});
        CHECK(s.alphas()[0].shape() == Shape{36, 5});
        CHECK(s.weights().get("rnns.0._W0").shape() == Shape{600, 600});
        CHECK(s.weights().get("rnns.0._Ws.7").shape() == Shape{300, 600});
        // U(-0.04, 0.04), the bias 0, α about 1e-3 N(0, 1).
        const std::vector<float> e = s.weights().get("encoder.weight").value().to_vector();
        float lo = 1, hi = -1;
        for (float v : e) lo = std::min(lo, v), hi = std::max(hi, v);
        CHECK(lo >= -0.04f);
        CHECK(hi <= 0.04f);
        CHECK(lo < -0.039f);
        CHECK(hi > 0.039f);
        for (float v : s.weights().get("decoder.bias").value().to_vector()) CHECK(v == 0.f);
        double sq = 0;
        for (float v : s.alphas()[0].value().to_vector()) sq += double(v) * v;
        CHECK(std::sqrt(sq / 180) == doctest::Approx(1e-3).epsilon(0.3));

        RnnModelConfig eval;  // train.py with DARTS_V2: emsize = nhid = 850
        eval.emsize = eval.nhid = 850;
        eval.genotype = builtin_recurrent_genotype("DARTS_V2");
        RnnModel m(eval, Device::cpu(), 1267);
        CHECK(m.weights().total() == 22'960'000);
        CHECK(m.buffers().size() == 0);
        CHECK(m.alphas().size() == 0);
    }

    TEST_CASE("rnn_model: one step of the evaluation cell matches the formulas worked in double") {
        // One node, tanh from s0; emsize = nhid = 2, vocabulary 3, batch 1, eval mode.
        RnnModelConfig c;
        c.ntoken = 3;
        c.emsize = c.nhid = 2;
        c.genotype = parse_recurrent_genotype("Genotype(recurrent=[('tanh', 0)])");
        RnnModel m(c, Device::cpu(), 11);
        const std::vector<float> e = m.weights().get("encoder.weight").value().to_vector();
        const std::vector<float> w0 = m.weights().get("rnns.0._W0").value().to_vector();
        const std::vector<float> w1 = m.weights().get("rnns.0._Ws.0").value().to_vector();
        Tensor bias = m.weights().get("decoder.bias").value();
        bias.copy_(Tensor::from_vector(std::vector<float>{0.1f, -0.2f, 0.3f}, {3}));
        const std::vector<double> h{0.5, -0.25};
        Generator gen(0);
        const RnnModel::Output o =
            m.forward(ids({2}, 1, 1), Tensor::from_vector(std::vector<float>{0.5f, -0.25f}, {1, 2}),
                      {.training = false}, gen);

        const std::vector<double> xh{e[4], e[5], h[0], h[1]};  // [x | h], x = row 2
        auto times = [](const std::vector<double>& v, const std::vector<float>& w) {
            std::vector<double> out(4, 0.0);  // (1 x n) (n x 4)
            for (size_t i = 0; i < v.size(); ++i)
                for (size_t j = 0; j < 4; ++j) out[j] += v[i] * double(w[i * 4 + j]);
            return out;
        };
        const std::vector<double> ch0 = times(xh, w0);
        std::vector<double> s0(2), s1(2);
        for (int k = 0; k < 2; ++k)
            s0[k] = h[k] + sigmoid_d(ch0[k]) * (std::tanh(ch0[2 + k]) - h[k]);
        const std::vector<double> ch1 = times(s0, w1);
        for (int k = 0; k < 2; ++k)
            s1[k] = s0[k] + sigmoid_d(ch1[k]) * (std::tanh(ch1[2 + k]) - s0[k]);
        std::vector<double> logits(3);
        const double b[3] = {0.1, -0.2, 0.3};
        for (int v = 0; v < 3; ++v) logits[v] = b[v] + s1[0] * e[v * 2] + s1[1] * e[v * 2 + 1];
        const double z = std::log(std::exp(logits[0]) + std::exp(logits[1]) + std::exp(logits[2]));
        const std::vector<float> lp = o.log_probs.value().to_vector();
        for (int v = 0; v < 3; ++v)
            CHECK(lp[size_t(v)] == doctest::Approx(logits[v] - z).epsilon(1e-5));
        const std::vector<float> hid = o.hidden.to_vector();
        CHECK(hid[0] == doctest::Approx(s1[0]).epsilon(1e-5));
        CHECK(hid[1] == doctest::Approx(s1[1]).epsilon(1e-5));
    }

    TEST_CASE(
        "rnn_model: a carried hidden state continues a segment exactly; masks only in training") {
        for (bool search : {false, true}) {
            CAPTURE(search);
            RnnModel m(search ? small_search() : small_eval(), Device::cpu(), 5);
            const std::vector<int32_t> all = {1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4};
            Generator gen(1);
            const ForwardMode eval{.training = false};
            const RnnModel::Output whole = m.forward(ids(all, 6, 3), m.init_hidden(3), eval, gen);
            const std::vector<int32_t> a(all.begin(), all.begin() + 9),
                b(all.begin() + 9, all.end());
            const RnnModel::Output first = m.forward(ids(a, 3, 3), m.init_hidden(3), eval, gen);
            const RnnModel::Output second = m.forward(ids(b, 3, 3), first.hidden, eval, gen);
            std::vector<float> joined = first.log_probs.value().to_vector();
            for (float v : second.log_probs.value().to_vector()) joined.push_back(v);
            CHECK(test::check_close(joined, whole.log_probs.value().to_vector(), 1e-5, 1e-6,
                                    "segments"));
            CHECK(test::check_close(second.hidden.to_vector(), whole.hidden.to_vector(), 1e-5, 1e-6,
                                    "hidden"));
            // Training mode draws masks: other outputs, and the generator moved on.
            const ForwardMode train{.training = true, .track_stats = false};
            const uint64_t before = gen.offset();
            const RnnModel::Output t = m.forward(ids(all, 6, 3), m.init_hidden(3), train, gen);
            CHECK(gen.offset() == before + 5);
            const std::vector<float> tv = t.log_probs.value().to_vector(),
                                     ev = whole.log_probs.value().to_vector();
            double largest = 0;
            for (size_t i = 0; i < tv.size(); ++i)
                largest = std::max(largest, std::fabs(double(tv[i]) - ev[i]));
            CHECK(largest > 1e-3);
        }
        // Without dropout an evaluation model trains on what it evaluates (no batch norm).
        RnnModelConfig c = small_eval();
        c.dropout = c.dropouth = c.dropoutx = c.dropouti = c.dropoute = 0.f;
        RnnModel m(c, Device::cpu(), 2);
        Generator gen(3);
        const Tensor x = ids({1, 2, 3, 4, 5, 6}, 3, 2);
        CHECK(
            m.forward(x, m.init_hidden(2), {.training = true}, gen).log_probs.value().to_vector() ==
            m.forward(x, m.init_hidden(2), {.training = false}, gen).log_probs.value().to_vector());
    }

    TEST_CASE(
        "rnn_model: gradients of NLL + TAR through the search cell and its alphas match central "
        "differences") {
        RnnModel m(small_search(), Device::cpu(), 7);
        const Tensor x = ids({1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5}, 3, 4);
        const Tensor y =
            Tensor::from_vector(std::vector<int32_t>{2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6}, {12});
        const Tensor h = Tensor::from_vector(test::uniform(16, 8, -0.5f, 0.5f), {4, 4});
        // Larger alphas than the init, so that the mixture weights differ per edge.
        m.alphas()[0].value().copy_(Tensor::from_vector(test::uniform(30, 9), {6, 5}));
        const ForwardMode mode{.training = true, .track_stats = false};
        auto loss = [&] {
            Generator gen(21);  // the same masks every call
            return rnn_training_loss(m.forward(x, h, mode, gen), y, 4, 0.5f);
        };
        std::vector<Var> all = m.weights().vars();
        all.push_back(m.alphas()[0]);
        backward(loss(), all);
        // Batch norm over 4 rows and ReLU switches blur the differences by about 1% of the
        // largest gradient; a wrong backward is off by far more.
        check_store_grads(m.weights(), loss, 2e-2);
        check_store_grads(m.alphas(), loss, 2e-2);
    }

    TEST_CASE(
        "rnn_model: gradients through the evaluation cell over several steps match central "
        "differences") {
        RnnModel m(small_eval(), Device::cpu(), 8);
        const Tensor x = ids({1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1}, 5, 3);
        const Tensor y = Tensor::from_vector(
            std::vector<int32_t>{2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2}, {15});
        const Tensor h = Tensor::from_vector(test::uniform(12, 10, -0.5f, 0.5f), {3, 4});
        const ForwardMode mode{.training = true};
        auto loss = [&] {
            Generator gen(22);
            return rnn_training_loss(m.forward(x, h, mode, gen), y, 3, 0.5f);
        };
        backward(loss(), m.weights().vars());
        check_store_grads(m.weights(), loss, 1e-2);
    }

    TEST_CASE(
        "rnn_model: the search model's genotype is derived from its alphas; bad settings named") {
        RnnModel m(small_search(), Device::cpu(), 4);
        const std::vector<float> a = m.alphas()[0].value().to_vector();
        CHECK(m.genotype() == derive_recurrent_genotype(a.data(), 3));
        RnnModelConfig c = small_search();
        c.emsize = 5;
        CHECK(test::error_of([&] { RnnModel(c, Device::cpu(), 1); }) ==
              "emsize: expected equal to nhid (the tied decoder needs it), got 5");
        c = small_search();
        c.dropouth = 1.f;
        CHECK(test::error_of([&] { RnnModel(c, Device::cpu(), 1); }) ==
              "dropouth: expected in [0, 1), got 1.000000");
    }
}  // TEST_SUITE
