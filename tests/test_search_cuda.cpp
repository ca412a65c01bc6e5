// The DARTS search on the GPU against the CPU: the same options, data and seed give the same
// α, weights and BN buffers after a few search steps (architect step + weight step), first and
// second order, and the same validation accuracy. Tolerances are those of a long float32 chain
// (and the second order's finite difference amplifies rounding by 1/R), so they are looser than
// a single kernel's. Never run on a GPU yet at the time of writing (no GPU in that session).
#if CUDARTS_HAS_CUDA

#include "models/run/search.h"
#include "tests/train_cases.h"
#include "tests/util.h"

using namespace cudarts;

TEST_SUITE("cuda_search") {
    TEST_CASE("cuda search: one epoch on the GPU matches the CPU, first and second order") {
        const ImageDataset data = make_synthetic(96, 3, 8, 3, 61);
        for (const bool second : {false, true}) {
            CAPTURE(second);
            SearchOptions o = test::tiny_search_options(3, 1);
            o.second_order = second;
            o.alpha_lr = 3e-3f;
            Search cpu(o, data, Device::cpu()), gpu(o, data, Device::cuda());
            // Same seed, same Philox numbers on both devices: identical initial weights and α.
            CHECK(cpu.network().weights().flat_values().to_vector() ==
                  gpu.network().weights().flat_values().to_vector());
            const EpochMetrics mc = cpu.run_epoch(), mg = gpu.run_epoch();
            CHECK(test::check_close(gpu.network().alphas().flat_values().to_vector(),
                                    cpu.network().alphas().flat_values().to_vector(), 1e-3, 1e-5,
                                    "alphas after 3 search steps"));
            CHECK(test::check_close(gpu.network().weights().flat_values().to_vector(),
                                    cpu.network().weights().flat_values().to_vector(), 1e-3, 1e-5,
                                    "weights after 3 search steps"));
            CHECK(test::check_close(gpu.network().buffers().flat_values().to_vector(),
                                    cpu.network().buffers().flat_values().to_vector(), 1e-3, 1e-5,
                                    "BN running statistics"));
            CHECK(mg.train_loss == doctest::Approx(mc.train_loss).epsilon(1e-3));
            CHECK(mg.valid_loss == doctest::Approx(mc.valid_loss).epsilon(1e-3));
        }
    }
}

#endif  // CUDARTS_HAS_CUDA
