// The recurrent search (models/rnn/search.h) on the small grammar corpus of tests/rnn_cases.h:
// validation perplexity falls well below the vocabulary's; a run resumed from its epoch-1
// checkpoint ends bitwise where an uninterrupted one ends (both orders); the evaluation follows the
// reference's protocol (segment-length weights, divided by the rows); a learning rate that diverges
// stops the run at its step.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/check.h"
#include "models/rnn/search.h"
#include "tests/rnn_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

RnnSearchOptions small_options(int epochs) {
    RnnSearchOptions o;
    o.model = test::small_rnn(0, 24, 4);
    o.model.dropout = o.model.dropoutx = 0.2f;
    o.epochs = epochs;
    o.batch_size = 32;  // batch norm over fewer rows is too noisy for this short a run
    o.eval_batch_size = 4;
    o.bptt = 12;
    return o;
}

}  // namespace

TEST_SUITE("rnn_search") {
    TEST_CASE("rnn_search: validation perplexity falls far below the vocabulary's on real text") {
        const test::TempDir tmp("rnn_search_learn");
        const TextCorpus corpus = test::small_corpus(tmp);
        REQUIRE(corpus.vocab_size() == 23);
        RnnSearch s(small_options(6), corpus, Device::cpu());  // the reference's lr 20, clip 0.25
        const double before = std::exp(s.validate());
        CHECK(before > 18.0);  // about uniform over 23 words
        int steps = 0;
        RnnEpochMetrics m;
        while (!s.done()) m = s.run_epoch([&](const StepInfo&) { ++steps; });
        MESSAGE("valid ppl " << before << " -> " << std::exp(m.valid_loss));
        CHECK(std::exp(m.valid_loss) < 0.5 * before);
        CHECK(steps > 6 * 9);
        CHECK(m.softmax_alphas.size() == 10 * 5);
        CHECK(m.genotype.steps() == 4);
        CHECK(m.to_json().at("valid_ppl").get<double>() == doctest::Approx(std::exp(m.valid_loss)));
    }

    TEST_CASE("rnn_search: a resumed run ends bitwise where an uninterrupted run ends") {
        for (bool second : {false, true}) {
            CAPTURE(second);
            const test::TempDir tmp(second ? "rnn_resume2" : "rnn_resume1");
            const TextCorpus corpus = test::small_corpus(tmp);
            RnnSearchOptions o = small_options(2);
            o.second_order = second;
            RnnSearch straight(o, corpus, Device::cpu());
            straight.run_epoch();
            const std::string ckpt = tmp.file("ckpt.safetensors");
            straight.save(ckpt);
            straight.run_epoch();

            RnnSearch resumed(o, corpus, Device::cpu());
            resumed.load(ckpt);
            CHECK(resumed.epoch() == 1);
            resumed.run_epoch();
            test::check_same_values(resumed.model().weights(), straight.model().weights(),
                                    "weights");
            test::check_same_values(resumed.model().alphas(), straight.model().alphas(), "alphas");
            test::check_same_values(resumed.model().buffers(), straight.model().buffers(),
                                    "buffers");
            CHECK(resumed.genotype() == straight.genotype());
        }
    }

    TEST_CASE("rnn_search: evaluation weights segments by length and divides by the rows") {
        RnnModel m(test::small_rnn(9, 5, 3), Device::cpu(), 2);
        std::vector<int32_t> stream;
        for (int k = 0; k < 30; ++k) stream.push_back((k * 7) % 9);
        const Tensor source = batchify(stream, 3, "valid");  // 10 rows: segments 4, 4 and 1
        Generator unused(0);
        Tensor h = m.init_hidden(3);
        double want = 0;
        for (int64_t i : {0, 4, 8}) {
            const TextSegment seg = get_batch(source, i, 4);
            NoGradGuard no_grad;
            const RnnModel::Output o = m.forward(seg.input, h, {.training = false}, unused);
            want += double(nll_loss(o.log_probs, seg.target).value().item()) * double(seg.len);
            h = o.hidden;
        }
        CHECK(evaluate_text(m, source, 4) == doctest::Approx(want / 10).epsilon(1e-12));
    }

    TEST_CASE("rnn_search: a diverging learning rate stops the run at its step") {
        const test::TempDir tmp("rnn_search_diverge");
        const TextCorpus corpus = test::small_corpus(tmp);
        RnnSearchOptions o = small_options(1);
        o.lr = 1e30f;
        o.clip = 1e30f;
        RnnSearch s(o, corpus, Device::cpu());
        std::string e;
        try {
            s.run_epoch();
        } catch (const DivergedError& d) {
            e = d.what();
        }
        CHECK(e.find(" is NaN at epoch 1 step ") != std::string::npos);
        CHECK(e.find("(lr 1e+30)") != std::string::npos);
        CHECK(s.epoch() == 0);
    }
}  // TEST_SUITE
