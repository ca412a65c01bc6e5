// The ENAS children on the GPU against the CPU: enas-trial's child (every op type, skips, Keras
// padding) after a short training, and one epoch of the `enas` search with shared weights (the
// controller always runs on the CPU; the children on the search's device). Tolerances are those
// of a float32 training chain. Never run on a GPU yet at the time of writing (no GPU in that
// session): the SIMT emulation build runs it in CI.
#if CUDARTS_HAS_CUDA

#include "models/enas/search.h"
#include "models/enas/trial.h"
#include "tests/enas_cases.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::enas;

TEST_SUITE("cuda_enas") {
    TEST_CASE("cuda enas: a trial child trains on the GPU as on the CPU") {
        ImageDataset train = make_synthetic(64, 2, 8, 3, 3), valid = make_synthetic(32, 2, 8, 3, 4);
        scale_pixels_once(train);
        scale_pixels_once(valid);
        const SearchSpace space = test::small_space(3);
        const Architecture arch = {{1}, {2, 1}, {3, 1, 1}};  // conv /2, sep, dw, skips
        const ChildPlan plan = plan_child(space.nn_config(arch), arch, "t");
        ChildNetwork cpu(plan, Device::cpu(), 2), gpu(plan, Device::cuda(), 2);
        CHECK(cpu.weights().flat_values().to_vector() == gpu.weights().flat_values().to_vector());
        const TrialOptions o{.epochs = 1, .batch_size = 16, .lr = 1e-3f, .seed = 1};
        ChildTrainer tc(cpu, o, train, valid, valid), tg(gpu, o, train, valid, valid);
        const TrialEpoch mc = tc.run_epoch(), mg = tg.run_epoch();
        // A convolution's bias right before batch norm has a zero gradient up to rounding, which
        // Adam scales to steps of +-lr either way: those biases are free on both devices (and
        // shift only the running means). Every other weight must agree.
        for (int i = 0; i < cpu.weights().size(); ++i) {
            const std::string& name = cpu.weights().names()[size_t(i)];
            const bool dead = name.ends_with(".bias") && name.find(".bn.") == std::string::npos &&
                              name.rfind("classifier", 0) != 0;
            if (dead) continue;
            CHECK(test::check_close(gpu.weights()[i].value().to_vector(),
                                    cpu.weights()[i].value().to_vector(), 1e-3, 1e-5,
                                    name + " after 4 Adam steps"));
        }
        CHECK(test::check_close(gpu.buffers().flat_values().to_vector(),
                                cpu.buffers().flat_values().to_vector(), 1e-3, 2e-4,
                                "BN running statistics"));
        CHECK(mg.train_loss == doctest::Approx(mc.train_loss).epsilon(1e-3));
        CHECK(mg.valid_loss == doctest::Approx(mc.valid_loss).epsilon(1e-3));
    }

    TEST_CASE("cuda enas: one search epoch with shared weights on the GPU matches the CPU") {
        ImageDataset train = make_synthetic(64, 2, 8, 3, 5), valid = make_synthetic(32, 2, 8, 3, 6);
        scale_pixels_once(train);
        scale_pixels_once(valid);
        const EnasOptions o{.controller = {.learning_rate = 0.01, .train_steps = 2},
                            .epochs = 1,
                            .child_steps = 3,
                            .batch_size = 16,
                            .eval_children = 2,
                            .seed = 2};
        EnasSearch cpu(test::small_space(3), o, train, valid, Device::cpu());
        EnasSearch gpu(test::small_space(3), o, train, valid, Device::cuda());
        const EnasEpoch mc = cpu.run_epoch(), mg = gpu.run_epoch();
        CHECK(mg.child_loss == doctest::Approx(mc.child_loss).epsilon(1e-3));
        CHECK(mg.shared_blocks == mc.shared_blocks);
        CHECK(mg.shared_parameters == mc.shared_parameters);
        // The rewards are accuracies on 16 images: equal unless a logit ties within rounding.
        CHECK(mg.reward_mean == doctest::Approx(mc.reward_mean).epsilon(1e-6));
        CHECK(test::check_close(gpu.controller().weights().flat_values().to_vector(),
                                cpu.controller().weights().flat_values().to_vector(), 1e-3, 1e-6,
                                "controller after 2 updates"));
    }
}

#endif  // CUDARTS_HAS_CUDA
