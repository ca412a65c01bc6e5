// The search loop end to end on the CPU: it learns and moves α (proof it searches), a run
// interrupted at an epoch boundary and resumed from its checkpoint ends bitwise where an
// uninterrupted run ends, and bad checkpoints are refused with one line naming the file.
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/run/search.h"
#include "tests/train_cases.h"
#include "tests/util.h"

using namespace cudarts;
namespace fs = std::filesystem;

namespace {

SearchOptions small_options() {
    SearchOptions o = test::tiny_search_options(3, 2);
    o.seed = 5;
    o.alpha_lr = 3e-3f;  // α moves visibly within a short run
    return o;
}

double max_deviation_from_uniform(const std::vector<float>& p, size_t k) {
    double m = 0;
    for (float v : p) m = std::max(m, std::abs(double(v) - 1.0 / double(k)));
    return m;
}

}  // namespace

TEST_SUITE("search") {
    TEST_CASE("search: cosine schedule matches the reference's values") {
        CHECK(cosine_lr(0.025, 0.001, 0, 50) == doctest::Approx(0.025));
        CHECK(cosine_lr(0.025, 0.001, 1, 50) == doctest::Approx(0.0249763).epsilon(1e-6));
        CHECK(cosine_lr(0.025, 0.001, 25, 50) == doctest::Approx(0.013));
        CHECK(cosine_lr(0.025, 0.001, 49, 50) == doctest::Approx(0.0010237).epsilon(1e-4));
    }

    TEST_CASE("search: a short search learns and moves alpha away from uniform") {
        const ImageDataset data = make_synthetic(640, 3, 12, 4, 21);
        SearchOptions o = small_options();
        o.epochs = 4;
        o.second_order = false;
        o.augment = Augment{};
        Search search(o, data, Device::cpu());
        CHECK(search.steps_per_epoch() == 20);
        const auto [loss0, acc0] = search.validate();
        EpochMetrics m;
        while (!search.done()) m = search.run_epoch();
        MESSAGE("valid acc " << acc0 << " -> " << m.valid_acc << ", loss " << loss0 << " -> "
                             << m.valid_loss << "; train acc " << m.train_acc);
        CHECK(m.valid_acc >= 0.6);  // chance is 0.25
        CHECK(m.valid_loss < 0.75 * loss0);
        const size_t k = search.options().net.primitives.size();
        CHECK(max_deviation_from_uniform(m.softmax_normal, k) > 0.01);  // init: about 1e-4
        CHECK(m.genotype.normal.size() == 4);
    }

    TEST_CASE("search: a resumed run ends bitwise where an uninterrupted run ends") {
        const ImageDataset data = make_synthetic(192, 3, 8, 3, 31);
        for (const bool second : {false, true}) {
            CAPTURE(second);
            SearchOptions o = small_options();
            o.epochs = 3;
            o.second_order = second;
            const test::TempDir tmp(second ? "search_resume2" : "search_resume1");
            const fs::path& dir = tmp.path;
            const std::string ckpt = (dir / "checkpoint.safetensors").string();

            Search full(o, data, Device::cpu());
            while (!full.done()) full.run_epoch();

            {  // interrupted after the first epoch
                Search first(o, data, Device::cpu());
                first.run_epoch();
                first.save(ckpt);
            }
            Search resumed(o, data, Device::cpu());
            resumed.load(ckpt);
            CHECK(resumed.epoch() == 1);
            while (!resumed.done()) resumed.run_epoch();

            test::check_same_values(resumed.network().alphas(), full.network().alphas(), "alphas");
            test::check_same_values(resumed.network().weights(), full.network().weights(),
                                    "weights");
            test::check_same_values(resumed.network().buffers(), full.network().buffers(),
                                    "buffers");
            CHECK(to_darts_string(resumed.genotype()) == to_darts_string(full.genotype()));
        }
    }

    TEST_CASE("search: the checkpoint holds PyTorch names, alphas and optimizer state") {
        const ImageDataset data = make_synthetic(64, 3, 8, 3, 41);
        SearchOptions o = small_options();
        o.epochs = 1;
        Search search(o, data, Device::cpu());
        search.run_epoch();
        const test::TempDir tmp("search_contents");
        const fs::path& dir = tmp.path;
        const std::string ckpt = (dir / "checkpoint.safetensors").string();
        search.save(ckpt, {{"note", "x"}});
        const SafetensorsFile f = read_safetensors(ckpt);
        CHECK(f.tensors.count("stem.0.weight") == 1);
        CHECK(f.tensors.count("cells.0.preprocess0.op.2.running_mean") == 1);
        CHECK(f.tensors.at("alphas_normal").shape == std::vector<int64_t>{5, 8});
        CHECK(f.tensors.count("optimizer.momentum_buffer") == 1);
        CHECK(f.tensors.count("architect.adam.exp_avg") == 1);
        CHECK(f.metadata.at("epoch") == "1");
        CHECK(f.metadata.at("note") == "x");
        CHECK(parse_genotype(f.metadata.at("genotype")) == search.genotype());
    }

    TEST_CASE("search: mismatched or corrupt checkpoints are refused, naming the file") {
        const ImageDataset data = make_synthetic(64, 3, 8, 3, 51);
        SearchOptions o = small_options();
        o.epochs = 1;
        const test::TempDir tmp("search_bad");
        const fs::path& dir = tmp.path;
        const std::string ckpt = (dir / "checkpoint.safetensors").string();
        {
            Search search(o, data, Device::cpu());
            search.save(ckpt);
        }
        SearchOptions wider = o;
        wider.net.init_channels = 6;
        Search other(wider, data, Device::cpu());
        try {
            other.load(ckpt);
            FAIL("a checkpoint of another network was accepted");
        } catch (const InputError& e) {
            CHECK(std::string(e.what()).find(ckpt) != std::string::npos);
            CHECK(std::string(e.what()).find("init_channels") != std::string::npos);
        }
        // Truncate the file: the reader must refuse it.
        fs::resize_file(ckpt, fs::file_size(ckpt) / 2);
        Search same(o, data, Device::cpu());
        CHECK_THROWS_AS(same.load(ckpt), InputError);
        // A safetensors file without our metadata.
        const float one = 1.f;
        write_safetensors(ckpt, {{"alphas_normal", DType::kF32, {1}, &one}});
        CHECK_THROWS_WITH_AS(same.load(ckpt), doctest::Contains("format"), InputError);
    }

    TEST_CASE("search: a NaN weight stops the run at its first step, naming the step and lr") {
        const ImageDataset data = make_synthetic(64, 3, 8, 3, 61);
        for (const bool second : {false, true}) {
            CAPTURE(second);
            SearchOptions o = small_options();
            o.second_order = second;
            Search search(o, data, Device::cpu());
            float* w = search.network().weights().flat_values().f32();
            w[0] = std::numeric_limits<float>::quiet_NaN();
            const float w1 = w[1];
            try {
                search.run_epoch();
                FAIL("a NaN weight went unnoticed");
            } catch (const DivergedError& e) {
                CHECK(std::string(e.what()).find("is NaN at epoch 1 step 1 (lr 0.025)") !=
                      std::string::npos);
            }
            CHECK(search.epoch() == 0);
            CHECK(w[1] == w1);  // the second-order virtual step was undone
        }
    }

    TEST_CASE("search: a non-finite alpha is named by its tensor, row and column") {
        Tensor a = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
        CHECK_NOTHROW(require_finite(a, "alphas_normal", {0, 0, 0.1}));
        a.f32()[5] = -std::numeric_limits<float>::infinity();
        CHECK_THROWS_WITH_AS(require_finite(a, "alphas_normal", {2, 6, 0.5}),
                             "alphas_normal row 1 column 2 is -inf at epoch 3 step 7 (lr 0.5)",
                             DivergedError);
        CHECK_THROWS_WITH_AS(require_finite(std::nan(""), "the validation loss", {0, -1, 0.025}),
                             "the validation loss is NaN at epoch 1 evaluation (lr 0.025)",
                             DivergedError);
    }

    TEST_CASE("search: images too small for the reductions are refused before any work") {
        SearchOptions o = small_options();  // 3 layers: two reduction cells, sizes / 4
        for (const int size : {1, 2, 6}) {
            CAPTURE(size);
            const ImageDataset data = test::noise_images(32, 3, size, 3, 71);
            CHECK_THROWS_WITH_AS(Search(o, data, Device::cpu()),
                                 doctest::Contains("halvings need even sizes"), InputError);
        }
        const ImageDataset fits = test::noise_images(32, 3, 4, 3, 72);
        Search search(o, fits, Device::cpu());
        CHECK(std::isfinite(search.run_epoch().train_loss));
        o.net.layers = 100000;  // bounded before anything is allocated
        CHECK_THROWS_WITH_AS(Search(o, fits, Device::cpu()), doctest::Contains("1..64"),
                             InputError);
    }
}
