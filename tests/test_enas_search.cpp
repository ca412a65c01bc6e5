// The `enas` search: shared child weights (models/enas/shared.h) and the loop (search.h).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"
#include "models/enas/search.h"
#include "models/enas/trial.h"
#include "tests/enas_cases.h"
#include "tests/util.h"

namespace cudarts::test {
namespace {

using namespace cudarts::enas;

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
    return d;
}

// The logits of one child read from `shared`, BN on batch statistics.
Tensor shared_logits(SharedWeights& shared, const SearchSpace& space, const Architecture& arch,
                     const Var& x) {
    NoGradGuard no_grad;
    const ChildPlan plan = plan_child(space.nn_config(arch), arch, "t");
    const SharedWeights::View v = shared.view(plan, ops_of(arch));
    return child_forward(plan, v.layers, v.classifier_weight, v.classifier_bias, x,
                         {.training = true, .track_stats = false})
        .value();
}

}  // namespace

TEST_SUITE("enas_search") {
    TEST_CASE(
        "a child's shared weights are its inputs' blocks concatenated: it computes enas-trial's "
        "child") {
        const SearchSpace space = small_space(3);
        const Architecture arch = {{1}, {2, 1}, {3, 1, 1}};  // conv /2, separable, depthwise, skips
        const ChildPlan plan = plan_child(space.nn_config(arch), arch, "t");
        SharedWeights shared(Device::cpu(), 7, {.lr = 1e-3f});
        ChildNetwork net(plan, Device::cpu(), 1);
        {  // Copy the view's (concatenated) tensors into the private child by role.
            NoGradGuard no_grad;
            const SharedWeights::View v = shared.view(plan, ops_of(arch));
            auto copy = [&](const std::string& name, const Var& from) {
                REQUIRE(from.defined());
                const Var& to = net.weights().get(name);
                REQUIRE(to.value().shape() == from.value().shape());
                to.value().copy_(from.value());
            };
            copy("layers.1.conv.weight", v.layers[0].weight);
            copy("layers.1.conv.bias", v.layers[0].bias);
            copy("layers.2.depthwise.weight", v.layers[1].weight);
            copy("layers.2.pointwise.weight", v.layers[1].pointwise);
            copy("layers.2.pointwise.bias", v.layers[1].bias);
            copy("layers.3.depthwise.weight", v.layers[2].weight);
            copy("layers.3.depthwise.bias", v.layers[2].bias);
            copy("layers.3.bn.weight", v.layers[2].gamma);
            copy("classifier.weight", v.classifier_weight);
            // Layer 3 reads layers 2, 0 and 1: its depthwise kernel stacks their blocks in that
            // order.
            const Tensor block0 = v.layers[2].weight.value();
            CHECK(block0.shape() == Shape{(3 + 2 + 5) * 2, 1, 3, 3});
        }
        const Var x(Tensor::from_vector(uniform(4 * 2 * 8 * 8, 3), {4, 2, 8, 8}));
        const Tensor want = [&] {
            NoGradGuard no_grad;
            return net.forward(x, {.training = true, .track_stats = false}).value();
        }();
        CHECK(check_close(shared_logits(shared, space, arch, x).to_vector(), want.to_vector(), 1e-5,
                          1e-6));
        // 1 + 3 input blocks + 1 output block (conv, separable) ... and the classifier.
        CHECK(shared.blocks() == 1 + 1 + 2 + 1 + 3 + 1);
    }

    TEST_CASE(
        "blocks are shared between children, independent of the order they were met, and train "
        "only when used") {
        const SearchSpace space = small_space(2);
        const Architecture a = {{0}, {4, 1}}, b = {{0}, {3, 0}};  // share layer 1's conv
        const Var x(Tensor::from_vector(uniform(4 * 2 * 8 * 8, 9), {4, 2, 8, 8}));
        SharedWeights ab(Device::cpu(), 5, {.lr = 1e-2f}), ba(Device::cpu(), 5, {.lr = 1e-2f});
        shared_logits(ab, space, a, x);
        shared_logits(ab, space, b, x);
        shared_logits(ba, space, b, x);
        shared_logits(ba, space, a, x);
        CHECK(check_close(shared_logits(ab, space, b, x).to_vector(),
                          shared_logits(ba, space, b, x).to_vector(), 0, 0));

        // One training step of child a moves its blocks (layer 1's conv among them), so child b,
        // which reads that conv, changes too; a child with neither block does not.
        const Architecture c = {
            {2}, {0, 0}};  // neither block of a (its classifier reads 4 channels, a's 6)
        const Tensor b0 = shared_logits(ab, space, b, x), c0 = shared_logits(ab, space, c, x);
        const ChildPlan plan = plan_child(space.nn_config(a), a, "t");
        const SharedWeights::View v = ab.view(plan, ops_of(a));
        const Tensor y = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 1}, {4});
        backward(
            cross_entropy(
                child_forward(plan, v.layers, v.classifier_weight, v.classifier_bias, x, {}), y),
            v.params);
        ab.step(v);
        const auto b1 = shared_logits(ab, space, b, x).to_vector();
        const auto c1 = shared_logits(ab, space, c, x).to_vector();
        CHECK(max_abs_diff(b1, b0.to_vector()) > 1e-4);
        CHECK(max_abs_diff(c1, c0.to_vector()) == 0);
    }

    TEST_CASE(
        "checkpoint: save after one epoch, load, run on equals the uninterrupted run bit for bit") {
        const ImageDataset train = noise_images(48, 2, 8, 3, 1),
                           valid = noise_images(24, 2, 8, 3, 2);
        const EnasOptions o{.controller = {.learning_rate = 0.01, .train_steps = 3},
                            .epochs = 2,
                            .child_steps = 3,
                            .batch_size = 8,
                            .eval_children = 2,
                            .seed = 3};
        TempDir dir("enas_resume");
        EnasSearch whole(small_space(3), o, train, valid, Device::cpu());
        whole.run_epoch();
        whole.run_epoch();
        EnasSearch first(small_space(3), o, train, valid, Device::cpu());
        first.run_epoch();
        first.save(dir.file("ckpt.safetensors"));
        EnasSearch resumed(small_space(3), o, train, valid, Device::cpu());
        resumed.load(dir.file("ckpt.safetensors"));
        CHECK(resumed.epoch() == 1);
        resumed.run_epoch();
        check_same_values(resumed.controller().weights(), whole.controller().weights(),
                          "controller");
        CHECK(resumed.controller().baseline() == whole.controller().baseline());
        CHECK(resumed.best() == whole.best());
        CHECK(resumed.best_acc() == whole.best_acc());
        CHECK(resumed.shared().blocks() == whole.shared().blocks());
        CHECK(resumed.shared().parameters() == whole.shared().parameters());
        // The shared weights agree too: the same child gives the same logits.
        const Var x(Tensor::from_vector(uniform(2 * 2 * 8 * 8, 4), {2, 2, 8, 8}));
        const Architecture arch = whole.best();
        auto& ws = const_cast<SharedWeights&>(whole.shared());
        auto& rs = const_cast<SharedWeights&>(resumed.shared());
        CHECK(check_close(shared_logits(rs, small_space(3), arch, x).to_vector(),
                          shared_logits(ws, small_space(3), arch, x).to_vector(), 0, 0));
    }

    TEST_CASE("the controller moves toward a planted better op (convolutions against pools)") {
        // Two layers, each a 2x2 average pool or a 3x3 convolution. An op is ReLU, conv, BN with
        // no nonlinearity after it, and pixels are >= 0, so only conv then conv puts a ReLU
        // between two linear maps; every other child is linear in the pixels before the global
        // average pool, which leaves nothing of the bar's orientation. Only [[1], [1, *]] learns.
        SearchSpace space{
            .num_layers = 2, .height = 16, .width = 16, .channels = 3, .classes = 4, .ops = {}};
        space.ops = {{.type = OpType::reduction, .max_pool = false, .pool_size = 2}, conv_op(3, 8)};
        ImageDataset train = make_synthetic(512, 3, 16, 4, 1),
                     valid = make_synthetic(128, 3, 16, 4, 2);
        scale_pixels_once(train);
        scale_pixels_once(valid);
        const EnasOptions o{
            .controller = {.baseline_decay = 0.9, .learning_rate = 0.05, .train_steps = 20},
            .epochs = 4,
            .child_steps = 40,
            .batch_size = 32,
            .child_lr = 1e-2f,
            .eval_children = 1,
            .seed = 1};
        EnasSearch search(space, o, train, valid, Device::cpu());
        const auto p_convs = [&] {
            NoGradGuard no_grad;
            double p = 0;
            for (int skip : {0, 1})
                p += std::exp(search.controller().score({{1}, {1, skip}}).log_prob.value().item());
            return p;
        };
        const double before = p_convs();
        std::vector<EnasEpoch> epochs;
        while (!search.done()) epochs.push_back(search.run_epoch());
        const double after = p_convs();
        CAPTURE(before);
        CAPTURE(after);
        CAPTURE(epochs.back().reward_mean);
        CAPTURE(search.best_acc());
        CHECK(before == doctest::Approx(0.25).epsilon(0.05));
        CHECK(after > 0.6);
        CHECK(search.best()[0][0] == 1);
        CHECK(search.best()[1][0] == 1);
        CHECK(search.best_acc() > 0.4);
    }
}

}  // namespace cudarts::test
