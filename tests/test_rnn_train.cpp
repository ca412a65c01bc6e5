// Training a recurrent cell with NT-ASGD (models/rnn/train.h) on the grammar corpus of
// tests/rnn_cases.h: validation perplexity falls; averaged SGD lags the rate one step and averages
// the iterates from its second step on (hand-computed); the non-monotone trigger's table; a
// resumed run (averaging on) ends bitwise where an uninterrupted one ends; the checkpoint's
// reference names hold the best evaluation weights; a NaN loss rolls back to the best state, and
// a run with nothing to roll back to, or out of retries, stops.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/rnn/search.h"
#include "models/rnn/train.h"
#include "tests/rnn_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

RnnTrainOptions small_options(int epochs) {
    RnnTrainOptions o;
    o.model = test::small_rnn(0, 24, 8, 0.1f);
    o.model.dropout = o.model.dropoutx = 0.2f;
    o.model.genotype = *builtin_recurrent_genotype("DARTS_V2");
    o.epochs = epochs;
    o.batch_size = 16;
    o.eval_batch_size = 4;
    o.bptt = 12;
    o.max_seq_len_delta = 6;
    return o;
}

std::vector<float> values(const RnnModel& m) { return m.weights().flat_values().to_vector(); }

// The message of the DivergedError an epoch of `t` throws ("" when it throws none).
std::string divergence_of(RnnTrainer& t) {
    try {
        t.run_epoch();
    } catch (const DivergedError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_SUITE("rnn_train") {
    TEST_CASE("rnn_train: validation perplexity falls far below the vocabulary's") {
        const test::TempDir tmp("rnn_train_learn");
        const TextCorpus corpus = test::small_corpus(tmp);
        RnnTrainer t(small_options(4), corpus, Device::cpu());
        const double before = std::exp(t.validate());
        CHECK(before > 18.0);
        RnnTrainEpoch m;
        while (!t.done()) m = t.run_epoch();
        MESSAGE("valid ppl " << before << " -> " << std::exp(t.best_loss()));
        CHECK(std::exp(t.best_loss()) < 0.5 * before);
        CHECK(t.logged_losses().size() == 4);
        CHECK(m.to_json().at("valid_ppl").get<double>() == doctest::Approx(std::exp(m.valid_loss)));
    }

    TEST_CASE("rnn_train: averaged SGD takes the previous step's rate and averages steps 2..k") {
        ParamStore w;
        w.add("p", {2});
        w.finalize(Device::cpu());
        w[0].value().copy_(Tensor::from_vector(std::vector<float>{1.f, -2.f}, {2}));
        Sgd sgd(w, {.lr = 1.f, .momentum = 0.f, .weight_decay = 0.f});
        AveragingState st;
        st.on = true;
        const std::vector<std::vector<float>> grads = {{1, 2}, {3, -1}, {-2, 4}, {0.5f, 1}};
        const std::vector<double> lrs = {0.1, 0.2, 0.4, 0.8};
        // p1 = p0 - 0.1 g1, p2 = p1 - 0.1 g2, p3 = p2 - 0.2 g3, p4 = p3 - 0.4 g4.
        const std::vector<double> used = {0.1, 0.1, 0.2, 0.4};
        std::vector<double> p = {1, -2};
        std::vector<std::vector<double>> iterates;
        for (size_t k = 0; k < grads.size(); ++k) {
            w.flat_grads().copy_(Tensor::from_vector(grads[k], {2}));
            averaged_sgd_step(sgd, w, st, lrs[k]);
            for (int j = 0; j < 2; ++j) p[size_t(j)] -= used[k] * grads[k][size_t(j)];
            iterates.push_back(p);
            const std::vector<float> got = w.flat_values().to_vector();
            CHECK(got[0] == doctest::Approx(p[0]).epsilon(1e-6));
            CHECK(got[1] == doctest::Approx(p[1]).epsilon(1e-6));
        }
        CHECK(st.steps == 4);
        CHECK(st.eta == 0.8);
        const std::vector<float> avg = st.average.to_vector();
        for (int j = 0; j < 2; ++j) {
            const double mean =
                (iterates[1][size_t(j)] + iterates[2][size_t(j)] + iterates[3][size_t(j)]) / 3;
            CHECK(avg[size_t(j)] == doctest::Approx(mean).epsilon(1e-6));
        }
    }

    TEST_CASE("rnn_train: the switch waits for more than nonmono losses and a worse one") {
        const std::vector<double> six = {5, 4, 3, 3.5, 3.2, 3.1};
        CHECK_FALSE(nt_asgd_switches({5, 4, 3, 2, 1}, 9, 5));  // only 5 logged
        CHECK(nt_asgd_switches(six, 5.5, 5));                  // worse than min({5}) = 5
        CHECK_FALSE(nt_asgd_switches(six, 4.5, 5));            // better than 5
        CHECK(nt_asgd_switches(six, 4.5, 2));                  // min({5, 4, 3, 3.5}) = 3
        CHECK_FALSE(nt_asgd_switches(six, 2.9, 2));
        CHECK(nt_asgd_switches(six, 3.01, 0));  // nonmono 0: worse than every loss so far
        CHECK_FALSE(nt_asgd_switches({}, 1, 0));
    }

    TEST_CASE("rnn_train: a resumed run with averaging on ends bitwise where a straight one ends") {
        const test::TempDir tmp("rnn_train_resume");
        const TextCorpus corpus = test::small_corpus(tmp);
        const RnnTrainOptions o = small_options(3);
        RnnTrainer straight(o, corpus, Device::cpu());
        straight.run_epoch();
        straight.start_averaging();
        straight.run_epoch();
        const std::string ckpt = tmp.file("ckpt.safetensors");
        straight.save(ckpt);
        const RnnTrainEpoch last = straight.run_epoch();
        CHECK(last.averaged);

        RnnTrainer resumed(o, corpus, Device::cpu());
        resumed.load(ckpt);
        CHECK(resumed.epoch() == 2);
        CHECK(resumed.averaging());
        const RnnTrainEpoch again = resumed.run_epoch();
        CHECK(values(resumed.model()) == values(straight.model()));
        CHECK(again.valid_loss == last.valid_loss);
        CHECK(resumed.best_loss() == straight.best_loss());
        CHECK(resumed.logged_losses() == straight.logged_losses());
    }

    TEST_CASE("rnn_train: the checkpoint's reference names hold the best evaluation weights") {
        const test::TempDir tmp("rnn_train_best");
        const TextCorpus corpus = test::small_corpus(tmp);
        RnnTrainer t(small_options(2), corpus, Device::cpu());
        t.run_epoch();
        t.start_averaging();
        const RnnTrainEpoch m = t.run_epoch();
        const std::string ckpt = tmp.file("ckpt.safetensors");
        t.save(ckpt);
        RnnModel model(t.options().model, Device::cpu(), 0);
        restore_rnn_weights(read_safetensors(ckpt), model);
        const Tensor valid = batchify(corpus.valid, 4, "valid");
        CHECK(evaluate_text(model, valid, 12) == t.best_loss());
        CHECK(values(model) != values(t.model()));  // the averaged, not the last iterate
        CHECK((m.improved ? m.valid_loss : t.logged_losses()[0]) == t.best_loss());
    }

    TEST_CASE("rnn_train: a NaN loss rolls back to the best state and retries the epoch") {
        const test::TempDir tmp("rnn_train_nan");
        const TextCorpus corpus = test::small_corpus(tmp);
        const RnnTrainOptions o = small_options(3);
        RnnTrainer clean(o, corpus, Device::cpu()), rolled(o, corpus, Device::cpu());
        clean.run_epoch();
        rolled.run_epoch();
        const std::vector<float> after_first = values(rolled.model());
        CHECK(after_first == values(clean.model()));
        rolled.inject_nan_at(1, 3);
        const RnnTrainEpoch m = rolled.run_epoch();
        CHECK(m.rollbacks == 1);
        CHECK(std::isfinite(m.valid_loss));
        clean.run_epoch();
        CHECK(values(rolled.model()) != values(clean.model()));  // other draws on the retry
        CHECK(rolled.epoch() == 2);

        SUBCASE("before the first validation there is nothing to roll back to") {
            RnnTrainer fresh(o, corpus, Device::cpu());
            fresh.inject_nan_at(0, 1);
            const std::string e = divergence_of(fresh);
            CHECK(e.find("loss is NaN at epoch 1 step 2") != std::string::npos);
            CHECK(e.find("no validated state to roll back to") != std::string::npos);
        }
        SUBCASE("out of retries") {
            RnnTrainOptions none = o;
            none.max_rollbacks = 0;
            RnnTrainer t(none, corpus, Device::cpu());
            t.run_epoch();
            t.inject_nan_at(1, 0);
            CHECK(divergence_of(t).find("after 0 rollbacks") != std::string::npos);
            CHECK(t.epoch() == 1);
        }
    }

    TEST_CASE("rnn_train: options round-trip through JSON and refuse what they cannot train") {
        RnnTrainOptions o = RnnTrainOptions::paper();
        o.nonmono = 7;
        const RnnTrainOptions back = RnnTrainOptions::from_json(o.to_json(), "options");
        CHECK(back.to_json() == o.to_json());
        CHECK(back.model.genotype == o.model.genotype);
        CHECK(back.model.emsize == 850);
        RnnTrainOptions bad = o;
        bad.model.genotype.reset();
        CHECK(test::error_of([&] { bad.validate(); }).find("genotype") != std::string::npos);
        bad = o;
        bad.nonmono = -1;
        CHECK(test::error_of([&] { bad.validate(); }).find("nonmono") != std::string::npos);
    }
}  // TEST_SUITE
