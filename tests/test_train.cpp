// Training a genotype from scratch on the CPU: the schedules, a short run that learns, the
// checkpoint round trip (train -> save -> a fresh network loads it -> same test loss), a bitwise
// resume, and refused checkpoints.
#include <filesystem>
#include <limits>

#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/run/train.h"
#include "tests/train_cases.h"
#include "tests/util.h"

using namespace cudarts;
using cudarts::test::tiny_recipe;
namespace fs = std::filesystem;

TEST_SUITE("train") {
    TEST_CASE("train: schedules match the reference's values") {
        TrainRecipe r;
        r.epochs = 600;
        CHECK(r.lr_at(0) == doctest::Approx(0.025));
        CHECK(r.lr_at(300) == doctest::Approx(0.0125));
        CHECK(r.lr_at(599) == doctest::Approx(1.713e-7).epsilon(1e-3));
        r.step_schedule = true;
        r.lr = 0.1f;
        r.epochs = 250;
        CHECK(r.lr_at(249) == doctest::Approx(5.08e-5).epsilon(2e-3));
    }

    TEST_CASE("train: a short run learns, and a checkpoint gives the same test loss elsewhere") {
        const ImageDataset train = make_synthetic(384, 3, 16, 4, 71),
                           test = make_synthetic(128, 3, 16, 4, 72);
        TrainRecipe r = tiny_recipe();
        r.epochs = 3;
        r.augment = Augment{};
        Trainer t(r, train, test, Device::cpu());
        const auto [loss0, acc0] = evaluate(t.network(), test, 32);
        TrainEpoch m;
        while (!t.done()) m = t.run_epoch();
        MESSAGE("test acc " << acc0 << " -> " << m.test_acc << ", loss " << loss0 << " -> "
                            << m.test_loss);
        CHECK(m.test_acc >= 0.7);  // chance 0.25
        CHECK(m.test_loss < 0.7 * loss0);

        const test::TempDir tmp("train_roundtrip");
        const fs::path& dir = tmp.path;
        const std::string ckpt = (dir / "checkpoint.safetensors").string();
        t.save(ckpt);
        EvalNetConfig cfg = t.recipe().net;
        EvalNetwork fresh(cfg, Device::cpu(), 99);
        load_weights(fresh, ckpt);
        const auto [loss1, acc1] = evaluate(fresh, test, 32);
        CHECK(loss1 == doctest::Approx(m.test_loss).epsilon(1e-6));
        CHECK(acc1 == m.test_acc);
    }

    TEST_CASE("train: a resumed run ends bitwise where an uninterrupted run ends") {
        const ImageDataset train = make_synthetic(64, 3, 32, 3, 81),
                           test = make_synthetic(16, 3, 32, 3, 82);
        TrainRecipe r = tiny_recipe();
        r.net.auxiliary = true;
        r.drop_path_prob = 0.3f;
        r.net.layers = 3;
        Trainer full(r, train, test, Device::cpu());
        while (!full.done()) full.run_epoch();
        const test::TempDir tmp("train_resume");
        const fs::path& dir = tmp.path;
        const std::string ckpt = (dir / "checkpoint.safetensors").string();
        {
            Trainer first(r, train, test, Device::cpu());
            first.run_epoch();
            first.save(ckpt);
        }
        Trainer resumed(r, train, test, Device::cpu());
        resumed.load(ckpt);
        CHECK(resumed.epoch() == 1);
        while (!resumed.done()) resumed.run_epoch();
        test::check_same_values(resumed.network().weights(), full.network().weights(), "weights");
        test::check_same_values(resumed.network().buffers(), full.network().buffers(), "buffers");
    }

    TEST_CASE("train: checkpoints of another network are refused naming the file and the entry") {
        const ImageDataset train = make_synthetic(32, 3, 16, 3, 91),
                           test = make_synthetic(16, 3, 16, 3, 92);
        const test::TempDir tmp("train_refuse");
        const fs::path& dir = tmp.path;
        const std::string ckpt = (dir / "checkpoint.safetensors").string();
        Trainer t(tiny_recipe(), train, test, Device::cpu());
        t.save(ckpt);
        EvalNetConfig other = t.recipe().net;
        other.genotype = *builtin_genotype("DARTS_V1");  // different ops, different keys
        EvalNetwork net(other, Device::cpu(), 1);
        try {
            load_weights(net, ckpt);
            FAIL("a checkpoint of another genotype was accepted");
        } catch (const InputError& e) {
            CHECK(std::string(e.what()).find(ckpt) != std::string::npos);
        }
        EvalNetConfig wider = t.recipe().net;
        wider.init_channels = 6;
        EvalNetwork net2(wider, Device::cpu(), 1);
        CHECK_THROWS_WITH_AS(load_weights(net2, ckpt), doctest::Contains("stem.0.weight"),
                             InputError);
        // A search checkpoint is not a training checkpoint.
        Trainer again(tiny_recipe(), train, test, Device::cpu());
        const float one = 1.f;
        write_safetensors(ckpt, {{"x", DType::kF32, {1}, &one}}, {{"format", "other"}});
        CHECK_THROWS_WITH_AS(again.load(ckpt), doctest::Contains("format"), InputError);
    }

    TEST_CASE("train: a NaN weight stops the run at its first step, naming the step and lr") {
        const ImageDataset train = make_synthetic(32, 3, 16, 3, 93),
                           test = make_synthetic(16, 3, 16, 3, 94);
        Trainer t(tiny_recipe(), train, test, Device::cpu());
        t.network().weights().flat_values().f32()[0] = std::numeric_limits<float>::infinity();
        CHECK_THROWS_WITH_AS(t.run_epoch(), doctest::Contains("at epoch 1 step 1 (lr 0.05)"),
                             DivergedError);
        CHECK(t.epoch() == 0);
    }

    TEST_CASE("train: images too small for the network are refused before any work") {
        const auto refused = [](TrainRecipe r, int size) {
            const ImageDataset train = test::noise_images(16, 3, size, 3, 95),
                               test = test::noise_images(8, 3, size, 3, 96);
            CHECK_THROWS_WITH_AS(Trainer(r, train, test, Device::cpu()),
                                 doctest::Contains("halvings need even sizes"), InputError);
        };
        refused(tiny_recipe(), 1);
        refused(tiny_recipe(), 6);  // 6 -> 3: the second reduction cannot halve it
        TrainRecipe imagenet = tiny_recipe();
        imagenet.net.imagenet = true;
        refused(imagenet, 16);  // the stem makes 4x4, which halves twice, not three times
        const ImageDataset train = make_synthetic(16, 3, 32, 3, 97),
                           test = make_synthetic(8, 3, 32, 3, 98);
        CHECK_NOTHROW(Trainer(imagenet, train, test, Device::cpu()));
        TrainRecipe deep = tiny_recipe();
        deep.net.layers = 1000;
        CHECK_THROWS_WITH_AS(Trainer(deep, train, test, Device::cpu()), doctest::Contains("3..100"),
                             InputError);
    }
}
