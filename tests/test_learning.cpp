// Proof that the engine learns: a small convnet built from the DARTS op set (convs with dilation
// and groups, both BN kinds, both pools, a softmax-mixed edge, global pool, linear, CE) trained
// with SGD + momentum on the synthetic bars task must reach 95% training accuracy.
#include "tests/tiny_trainer.h"
#include "tests/util.h"

using namespace cudarts;

TEST_SUITE("learning") {
    TEST_CASE("learning: a small convnet reaches 95% training accuracy on synthetic bars") {
        const ImageSet set = make_bars(384, 1, 12, /*seed=*/1);
        TinyConvNet net(1, set.classes, Device::cpu(), /*seed=*/2);
        const double before = evaluate_accuracy(net, set, Device::cpu());
        TrainOptions opt;
        opt.epochs = 25;
        opt.seed = 3;
        double first_loss = 0;
        const EpochStats last =
            train_classifier(net, set, Device::cpu(), opt, [&](const EpochStats& s) {
                if (s.epoch == 0) first_loss = s.loss;
            });
        const double after = evaluate_accuracy(net, set, Device::cpu());
        MESSAGE("accuracy before " << before << ", after " << after << "; loss " << first_loss
                                   << " -> " << last.loss);
        CHECK(before < 0.5);
        CHECK(last.loss < 0.5 * first_loss);
        CHECK(after >= 0.95);
    }

    TEST_CASE("learning: the same seeds give bitwise the same run") {
        const ImageSet set = make_bars(64, 1, 9, 5);
        TrainOptions opt;
        opt.epochs = 2;
        opt.seed = 6;
        TinyConvNet a(1, set.classes, Device::cpu(), 7), b(1, set.classes, Device::cpu(), 7);
        train_classifier(a, set, Device::cpu(), opt);
        train_classifier(b, set, Device::cpu(), opt);
        CHECK(a.params().flat_values().to_vector() == b.params().flat_values().to_vector());
    }
}
