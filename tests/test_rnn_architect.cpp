// The recurrent architect (models/rnn/architect.h): the first-order α gradient against central
// differences of the search loss, and the second-order gradient against the formula of
// reference/darts.md 7.3 assembled here on the host in double from separate forward/backward
// passes with the same dropout masks: the clipped virtual step that leaves the embedding at w,
// the clipped dw', the uncapped κ (with the clip active, κ < 1, and inactive, κ > 1), the hidden
// states each pass starts from, and w restored bitwise.
#include <cmath>
#include <vector>

#include "models/rnn/architect.h"
#include "tests/rnn_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

TextSegment segment(const std::vector<int32_t>& stream, int64_t batch, int64_t i, int64_t len) {
    return get_batch(batchify(stream, batch, "test"), i, len);
}

std::vector<double> doubles(const Tensor& t) {
    const std::vector<float> v = t.to_vector();
    return std::vector<double>(v.begin(), v.end());
}

double norm(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
}

// A search model with spread-out α, a train and a search segment of one stream, and the hidden
// states each starts from.
struct Setup {
    RnnModel m;
    TextSegment train, search;
    Tensor train_hidden, search_hidden;
    Setup(uint64_t seed, int64_t train_row, int64_t search_row)
        : m(test::small_rnn(9, 5, 3), Device::cpu(), seed) {
        m.alphas()[0].value().copy_(Tensor::from_vector(test::uniform(30, seed + 1), {6, 5}));
        const std::vector<int32_t> stream = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6,
                                             7, 8, 0, 3, 1, 4, 1, 5, 2, 6, 5, 3, 5, 8, 7};
        train = segment(stream, 3, train_row, 4);
        search = segment(stream, 3, search_row, 3);
        train_hidden = Tensor::from_vector(test::uniform(15, seed + 2, -0.5f, 0.5f), {3, 5});
        search_hidden = Tensor::from_vector(test::uniform(15, seed + 3, -0.5f, 0.5f), {3, 5});
    }
};

}  // namespace

TEST_SUITE("rnn_architect") {
    TEST_CASE(
        "rnn_architect: the first-order gradient is dL_search/dalpha from the search hidden "
        "state") {
        Setup su(3, 0, 2);
        RnnModel& m = su.m;
        const TextSegment &train = su.train, &search = su.search;
        const Tensor &th = su.train_hidden, &sh = su.search_hidden;
        RnnArchitect arch(m, {});
        Generator gen(40, 7);
        const Tensor next = arch.compute_gradient(train, th, search, sh, 20.f, gen);
        CHECK(gen.offset() == 11);  // one forward: four masks (dropoute is 0)
        const std::vector<float> analytic = m.alphas().flat_grads().to_vector();

        const ForwardMode mode{.training = true, .track_stats = false};
        Tensor want_next;
        {
            Generator g(40, 7);
            NoGradGuard no_grad;
            const double l = rnn_segment_loss(m, search, sh, mode, g, &want_next).value().item();
            CHECK(arch.last_search_loss() == doctest::Approx(l).epsilon(1e-6));
        }
        CHECK(next.to_vector() == want_next.to_vector());
        Tensor a = m.alphas()[0].value();
        const std::vector<double> numeric = test::numeric_grad(
            [&](const std::vector<float>& v) {
                a.copy_(Tensor::from_vector(v, a.shape()));
                Generator g(40, 7);
                NoGradGuard no_grad;
                return double(rnn_segment_loss(m, search, sh, mode, g).value().item());
            },
            a.to_vector(), 1e-2);
        CHECK(test::check_grad(analytic, numeric, "dalpha", 2e-2, 2e-2));
    }

    TEST_CASE("rnn_architect: the second-order gradient follows the reference's formula") {
        for (float clip : {0.25f, 100.f}) {  // κ < 1 (g clipped) and κ > 1 (uncapped)
            CAPTURE(clip);
            Setup su(5, 1, 0);
            RnnModel& m = su.m;
            const TextSegment &train = su.train, &search = su.search;
            const Tensor &th = su.train_hidden, &sh = su.search_hidden;
            const float eta = 2.f, lambda = 1e-2f;
            RnnArchitect arch(m, {.second_order = true, .w_weight_decay = lambda, .clip = clip});
            const Tensor& w = m.weights().flat_values();
            const std::vector<float> w0 = w.to_vector();
            Generator gen(41, 100);
            const Tensor next = arch.compute_gradient(train, th, search, sh, eta, gen);
            CHECK(gen.offset() == 116);  // four forwards of four masks
            CHECK(w.to_vector() == w0);  // restored bitwise
            const std::vector<float> got = m.alphas().flat_grads().to_vector();

            // The same passes, their masks from the same stream offsets, assembled here.
            std::vector<Var> weights = m.weights().vars(), alphas = m.alphas().vars();
            auto train_grad = [&](uint64_t offset, std::vector<Var>& wrt) {
                Generator g(41, offset);
                backward(
                    rnn_segment_loss(m, train, th, {.training = true, .track_stats = false}, g),
                    wrt);
            };
            train_grad(100, weights);
            std::vector<double> g = doubles(m.weights().flat_grads());
            const double kappa = clip / (norm(g) + 1e-6);
            CHECK(arch.last_kappa() == doctest::Approx(kappa).epsilon(1e-5));
            CHECK((clip < 1 ? kappa < 1 : kappa > 1));
            const int64_t emb = m.weights()[0].numel();  // encoder.weight leads the buffer
            std::vector<float> w1 = w0;
            for (size_t i = size_t(emb); i < w1.size(); ++i)
                w1[i] = float(double(w0[i]) -
                              eta * ((kappa < 1 ? kappa : 1.0) * g[i] + double(lambda) * w0[i]));
            w.copy_(Tensor::from_vector(w1, w.shape()));
            Tensor want_next;
            {
                Generator gs(41, 104);
                std::vector<Var> both = weights;
                both.insert(both.end(), alphas.begin(), alphas.end());
                backward(rnn_segment_loss(m, search, sh, {.training = true, .track_stats = false},
                                          gs, &want_next),
                         both);
            }
            const std::vector<double> dalpha = doubles(m.alphas().flat_grads());
            std::vector<double> dw = doubles(m.weights().flat_grads());
            const double dw_coef = clip / (norm(dw) + 1e-6);
            if (dw_coef < 1)
                for (double& x : dw) x *= dw_coef;
            const double r = 0.01 / norm(dw);
            CHECK(arch.last_r() == doctest::Approx(r).epsilon(1e-4));
            std::vector<double> gpm[2];
            for (int sign = 0; sign < 2; ++sign) {
                std::vector<float> wp = w0;
                for (size_t i = 0; i < wp.size(); ++i)
                    wp[i] = float(double(w0[i]) + (sign ? -r : r) * dw[i]);
                w.copy_(Tensor::from_vector(wp, w.shape()));
                train_grad(sign ? 112 : 108, alphas);
                gpm[sign] = doubles(m.alphas().flat_grads());
            }
            w.copy_(Tensor::from_vector(w0, w.shape()));
            std::vector<double> want(dalpha.size());
            for (size_t i = 0; i < want.size(); ++i)
                want[i] = dalpha[i] - eta * kappa * (gpm[0][i] - gpm[1][i]) / (2 * r);
            CHECK(test::check_close(got, want, 2e-3, 1e-5, "second-order dalpha"));
            // w' here and in the architect round differently (double here, float axpy there).
            CHECK(test::check_close(next.to_vector(), want_next.to_vector(), 1e-5, 1e-6,
                                    "search hidden state"));
        }
    }
}  // TEST_SUITE
