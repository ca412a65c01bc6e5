// The recurrent search and training on the GPU against the CPU: the same options, corpus and seed
// give the same weights, α and batch-norm statistics after an epoch (architect step + weight step,
// first and second order; NT-ASGD steps with averaging on), and the same losses. Every dropout
// mask comes from the same Philox numbers on both devices. Tolerances are those of a float32
// chain through 8 nodes and a few steps, looser than a single kernel's.
#if CUDARTS_HAS_CUDA

#include <fstream>
#include <string>

#include "models/rnn/architect.h"
#include "models/rnn/search.h"
#include "models/rnn/train.h"
#include "tests/rnn_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

// A short corpus: about 10 training steps at batch 8 and bptt 10.
TextCorpus short_corpus(const test::TempDir& dir) {
    for (const auto& [name, count, offset] :
         {std::tuple{"train.txt", 150, 0}, {"valid.txt", 30, 150}, {"test.txt", 30, 180}}) {
        std::ofstream f(dir.file(name));
        f << test::grammar_sentences(count, offset);
    }
    return load_text_corpus(dir.path.string());
}

bool close(const ParamStore& gpu, const ParamStore& cpu, const std::string& what) {
    return test::check_close(gpu.flat_values().to_vector(), cpu.flat_values().to_vector(), 1e-3,
                             1e-5, what);
}

}  // namespace

TEST_SUITE("cuda_rnn") {
    TEST_CASE("cuda rnn: one forward and backward of both models match the CPU, masks included") {
        for (const bool search : {true, false}) {
            CAPTURE(search);
            RnnModelConfig cfg = test::small_rnn(11, 6, 3, 0.1f);
            if (!search) cfg.genotype = *builtin_recurrent_genotype("DARTS_V2");
            RnnModel cpu(cfg, Device::cpu(), 5), gpu(cfg, Device::cuda(), 5);
            std::vector<int32_t> ids;
            for (int k = 0; k < 4 * 3; ++k) ids.push_back((k * 7 + 3) % 11);
            std::vector<int32_t> next(ids.begin() + 3, ids.end());
            next.insert(next.end(), {1, 2, 3});
            const Tensor input = Tensor::from_vector(ids, {4, 3});
            const Tensor target = Tensor::from_vector(next, {12});
            const Tensor h0 = Tensor::from_vector(test::uniform(18, 8), {3, 6});
            for (const bool training : {false, true}) {
                CAPTURE(training);
                // Forward and backward of one model at a time: the tape is one per thread.
                const auto run = [&](RnnModel& m, Device dev) {
                    Generator gen(17);
                    RnnModel::Output o =
                        m.forward(input.to(dev), h0.to(dev), {.training = training}, gen);
                    if (training) {
                        std::vector<Var> leaves = m.weights().vars();
                        if (search) leaves.push_back(m.alphas()[0]);
                        backward(rnn_training_loss(o, target.to(dev), 3), leaves);
                    }
                    return o;
                };
                const RnnModel::Output oc = run(cpu, Device::cpu()), og = run(gpu, Device::cuda());
                CHECK(test::check_close(og.log_probs.value().to_vector(),
                                        oc.log_probs.value().to_vector(), 1e-5, 1e-6, "log_probs"));
                CHECK(test::check_close(og.hidden.to_vector(), oc.hidden.to_vector(), 1e-5, 1e-6,
                                        "hidden"));
                if (!training) continue;
                CHECK(test::check_close(gpu.weights().flat_grads().to_vector(),
                                        cpu.weights().flat_grads().to_vector(), 1e-4, 1e-6,
                                        "weight gradients"));
                if (search)
                    CHECK(test::check_close(gpu.alphas().flat_grads().to_vector(),
                                            cpu.alphas().flat_grads().to_vector(), 1e-4, 1e-7,
                                            "alpha gradients"));
                CHECK(test::check_close(gpu.buffers().flat_values().to_vector(),
                                        cpu.buffers().flat_values().to_vector(), 1e-5, 1e-6,
                                        "batch-norm statistics"));
            }
        }
    }

    TEST_CASE("cuda rnn: the architect's alpha gradient on the GPU matches the CPU, both orders") {
        const test::TempDir tmp("cuda_rnn_architect");
        const TextCorpus corpus = short_corpus(tmp);
        const Tensor train = batchify(corpus.train, 4, "train"),
                     valid = batchify(corpus.valid, 4, "valid");
        for (const bool second : {false, true}) {
            CAPTURE(second);
            const RnnArchitectOptions opt{.second_order = second,
                                          .adam = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.999f},
                                          .w_weight_decay = 5e-7f,
                                          .clip = 0.25f};
            const auto gradient = [&](Device dev) {
                RnnModel m(test::small_rnn(corpus.vocab_size(), 8, 3), dev, 9);
                RnnArchitect a(m, opt);
                Generator gen(23);
                const TextSegment t = get_batch(train.to(dev), 0, 10);
                const TextSegment v = get_batch(valid.to(dev), 0, 10);
                a.compute_gradient(t, m.init_hidden(4), v, m.init_hidden(4), 2.f, gen);
                return m.alphas().flat_grads().to_vector();
            };
            const std::vector<float> want = gradient(Device::cpu());
            CHECK(test::check_close(gradient(Device::cuda()), want, 2e-3, 1e-7, "dalpha"));
        }
    }

    // Two things amplify the devices' last-bit differences over an epoch, so this one is run where
    // they cannot: Adam turns a tiny alpha gradient into a step of +-lr whatever its rounding (the
    // alphas are held, alpha lr 0, the architect still running; its gradient is compared above),
    // and at the reference's lr 20 a cell of 8 units whose batch norm sees 8 rows is chaotic (a
    // 1e-5 difference grows tenfold per step; measured), so the weights step at lr 1.
    TEST_CASE(
        "cuda rnn: a search epoch's weights on the GPU match the CPU, first and second order") {
        const test::TempDir tmp("cuda_rnn_search");
        const TextCorpus corpus = short_corpus(tmp);
        for (const bool second : {false, true}) {
            CAPTURE(second);
            RnnSearchOptions o;
            o.model = test::small_rnn(0, 8, 3);
            o.epochs = 1;
            o.batch_size = 8;
            o.eval_batch_size = 4;
            o.bptt = 10;
            o.alpha_lr = 0.f;
            o.lr = 1.f;
            o.second_order = second;
            RnnSearch cpu(o, corpus, Device::cpu()), gpu(o, corpus, Device::cuda());
            CHECK(gpu.model().weights().flat_values().to_vector() ==
                  cpu.model().weights().flat_values().to_vector());
            const RnnEpochMetrics mc = cpu.run_epoch(), mg = gpu.run_epoch();
            CHECK(close(gpu.model().weights(), cpu.model().weights(), "weights"));
            CHECK(close(gpu.model().buffers(), cpu.model().buffers(), "batch-norm statistics"));
            CHECK(mg.train_loss == doctest::Approx(mc.train_loss).epsilon(1e-4));
            CHECK(mg.valid_loss == doctest::Approx(mc.valid_loss).epsilon(1e-4));
        }
    }

    TEST_CASE("cuda rnn: NT-ASGD epochs on the GPU match the CPU, averaging included") {
        const test::TempDir tmp("cuda_rnn_train");
        const TextCorpus corpus = short_corpus(tmp);
        RnnTrainOptions o;
        o.model = test::small_rnn(0, 8, 8, 0.1f);
        o.model.genotype = *builtin_recurrent_genotype("DARTS_V2");
        o.epochs = 2;
        o.batch_size = 8;
        o.eval_batch_size = 4;
        o.bptt = 10;
        RnnTrainer cpu(o, corpus, Device::cpu()), gpu(o, corpus, Device::cuda());
        cpu.run_epoch();
        gpu.run_epoch();
        cpu.start_averaging();
        gpu.start_averaging();
        const RnnTrainEpoch mc = cpu.run_epoch(), mg = gpu.run_epoch();
        CHECK(close(gpu.model().weights(), cpu.model().weights(), "weights"));
        CHECK(mg.train_loss == doctest::Approx(mc.train_loss).epsilon(1e-4));
        CHECK(mg.valid_loss == doctest::Approx(mc.valid_loss).epsilon(1e-4));
        CHECK(gpu.best_loss() == doctest::Approx(cpu.best_loss()).epsilon(1e-4));
    }
}

#endif  // CUDARTS_HAS_CUDA
