// The evaluation networks against the reference's numbers (reference/darts.md 6.3, 6.5, 8.3):
// parameter counts, state-dict keys, the auxiliary head and the image sizes it fits, drop path, and
// gradients through whole cells (drop path included) against central differences.
#include "kernels/check.h"
#include "models/darts/eval_network.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

EvalNetConfig cifar(const char* genotype, bool aux = false) {
    EvalNetConfig cfg;
    cfg.genotype = *builtin_genotype(genotype);
    cfg.auxiliary = aux;
    return cfg;
}

EvalNetConfig tiny(bool aux) {
    EvalNetConfig cfg = cifar("DARTS_V2", aux);
    cfg.init_channels = 4;
    cfg.layers = 3;
    cfg.classes = 3;
    return cfg;
}

bool has(const ParamStore& s, const std::string& name, const Shape& shape) {
    for (int i = 0; i < s.size(); ++i)
        if (s.names()[size_t(i)] == name) return s[i].shape() == shape;
    return false;
}

}  // namespace

TEST_SUITE("eval_network") {
    TEST_CASE("eval_network: parameter counts match the reference") {
        {
            EvalNetwork v2(cifar("DARTS_V2", true), Device::cpu(), 1);
            CHECK(v2.counted_parameters() == 3349342);
            CHECK(v2.weights().total() == 3825768);  // with the auxiliary head
        }
        EvalNetwork v1(cifar("DARTS_V1"), Device::cpu(), 1);
        CHECK(v1.counted_parameters() == 3169414);
        EvalNetConfig imagenet = cifar("DARTS_V2");
        imagenet.imagenet = true;
        imagenet.init_channels = 48;
        imagenet.layers = 14;
        imagenet.classes = 1000;
        EvalNetwork in(imagenet, Device::cpu(), 1);
        CHECK(in.counted_parameters() == 4718752);
    }

    TEST_CASE("eval_network: state-dict keys follow the reference") {
        EvalNetwork net(cifar("DARTS_V2", true), Device::cpu(), 1);
        const ParamStore& w = net.weights();
        CHECK(has(w, "stem.0.weight", {108, 3, 3, 3}));
        CHECK(has(w, "cells.0._ops.0.op.5.weight", {36, 1, 3, 3}));  // sep_conv_3x3, second dw
        CHECK(has(w, "cells.0._ops.7.op.3.bias", {36}));             // dil_conv_3x3's BN
        CHECK(has(w, "cells.7.preprocess0.bn.weight", {72}));  // FactorizedReduce after cell 6
        CHECK(has(w, "cells.6._ops.2.conv_1.weight", {36, 144, 1, 1}) == false);  // stride-1 skip
        CHECK(has(w, "auxiliary_head.features.2.weight", {128, 576, 1, 1}));
        CHECK(has(w, "auxiliary_head.features.6.weight", {768}));
        CHECK(has(w, "auxiliary_head.classifier.weight", {10, 768}));
        CHECK(has(w, "classifier.weight", {10, 576}));
        CHECK(has(net.buffers(), "cells.19.preprocess1.op.2.running_var", {144}));
        // The auxiliary head is registered before the classifier.
        CHECK(w.names()[size_t(w.size() - 3)] == "auxiliary_head.classifier.bias");
        CHECK(w.names().back() == "classifier.bias");
        // Pools and stride-1 skips have no keys: DARTS_V2's reduce cell is pools and skips only.
        for (const std::string& n : w.names()) CHECK(n.find("cells.6._ops.") == std::string::npos);
    }

    TEST_CASE("eval_network: outputs, auxiliary logits in training only, drop path is random") {
        EvalNetwork net(tiny(true), Device::cpu(), 2);
        const Var x(Tensor::from_vector(test::uniform(2 * 3 * 32 * 32, 3), {2, 3, 32, 32}));
        Generator gen(4);
        NoGradGuard no_grad;
        const EvalNetwork::Output train = net.forward(x, {.training = true}, 0.f, gen);
        CHECK(shape_str(train.logits.shape()) == "[2, 3]");
        REQUIRE(train.logits_aux.defined());
        CHECK(shape_str(train.logits_aux.shape()) == "[2, 3]");
        const EvalNetwork::Output eval = net.forward(x, {.training = false}, 0.5f, gen);
        CHECK(!eval.logits_aux.defined());
        // Eval mode ignores drop path: two calls agree.
        CHECK(eval.logits.value().to_vector() ==
              net.forward(x, {.training = false}, 0.5f, gen).logits.value().to_vector());
        // Training with drop path: different masks, different logits.
        const ForwardMode untracked{.training = true, .track_stats = false};
        CHECK(net.forward(x, untracked, 0.5f, gen).logits.value().to_vector() !=
              net.forward(x, untracked, 0.5f, gen).logits.value().to_vector());
    }

    TEST_CASE(
        "eval_network: gradients through whole cells with drop path match central differences") {
        // The stem's BN parameters reach the loss through every cell (drop path on, same masks in
        // every evaluation) and through the auxiliary head. The batch is 8 and the step 1e-3
        // because the auxiliary head's BN normalises over the batch only (1x1 maps), which makes
        // the loss strongly curved for tiny batches; ReLU and max-pool switches still blur central
        // differences by about 1% of the largest gradient, hence atol 2e-2 of it. A wrong backward
        // is off by far more.
        EvalNetwork net(tiny(true), Device::cpu(), 5);
        const Var x(Tensor::from_vector(test::uniform(8 * 3 * 32 * 32, 6), {8, 3, 32, 32}));
        const Tensor y = Tensor::from_vector(test::labels(8, 3, 9), {8});
        const ForwardMode mode{.training = true, .track_stats = false};
        auto loss = [&](Generator gen) {  // a copy: the same masks every call
            const EvalNetwork::Output o = net.forward(x, mode, 0.3f, gen);
            return add(cross_entropy(o.logits, y), scale(cross_entropy(o.logits_aux, y), 0.4f));
        };
        backward(loss(Generator(7)), net.weights().vars());
        for (const char* name : {"stem.1.weight", "stem.1.bias", "auxiliary_head.classifier.bias",
                                 "classifier.bias"}) {
            CAPTURE(name);
            Tensor w = net.weights().get(name).value();
            const std::vector<float> analytic = net.weights().get(name).grad().to_vector();
            const std::vector<double> numeric = test::numeric_grad(
                [&](const std::vector<float>& v) {
                    w.copy_(Tensor::from_vector(v, w.shape()));
                    NoGradGuard no_grad;
                    return double(loss(Generator(7)).value().item());
                },
                w.to_vector(), 1e-3);
            CHECK(test::check_grad(analytic, numeric, name, 5e-2, 2e-2));
        }
    }

    TEST_CASE("eval_network: the auxiliary head fits CIFAR's 32x32 and ImageNet's 224x224 only") {
        EvalNetConfig net = cifar("DARTS_V2");
        CHECK(auxiliary_map_needed(net) == 8);
        CHECK(auxiliary_map_side(net, 32, 32) == 8);
        CHECK(auxiliary_fits(net, 32, 32));
        CHECK(auxiliary_map_side(net, 28, 28) == 7);  // Fashion-MNIST
        CHECK_FALSE(auxiliary_fits(net, 28, 28));
        CHECK_FALSE(auxiliary_fits(net, 32, 28));  // the shorter side counts
        CHECK(auxiliary_fits(net, 35, 34));        // 34 / 4 = 8, rounded down
        net.imagenet = true;
        CHECK(auxiliary_map_needed(net) == 7);
        CHECK(auxiliary_map_side(net, 224, 224) == 7);
        CHECK(auxiliary_fits(net, 224, 224));
        CHECK(auxiliary_fits(net, 256, 224));
        CHECK_FALSE(auxiliary_fits(net, 223, 224));  // 223 / 32 = 6
        CHECK_FALSE(auxiliary_fits(net, 192, 192));
        CHECK_FALSE(auxiliary_fits(net, 32, 32));
        net.auxiliary = true;  // the rule is about the sizes, not whether the head is on
        CHECK(auxiliary_fits(net, 224, 224));
    }

    TEST_CASE("eval_network: a genotype with a node reading a later state is refused") {
        EvalNetConfig cfg = tiny(false);
        cfg.genotype.normal.clear();
        CHECK_THROWS_AS(EvalNetwork(cfg, Device::cpu(), 1), InputError);
    }
}
