// The DARTS search network against the reference's numbers (reference/darts.md 2.4, 2.5, 8.3):
// weight count, state-dict keys and shapes, registration order, output shapes; and its α gradient
// against central differences.
#include <set>

#include "kernels/check.h"
#include "models/darts/search_network.h"
#include "tests/train_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

Shape shape_of(const SearchNetwork& net, const std::string& name) {
    for (const ParamStore* s : {&net.weights(), &net.buffers(), &net.alphas()})
        for (int i = 0; i < s->size(); ++i)
            if (s->names()[size_t(i)] == name) return (*s)[i].shape();
    return {};
}

SearchNetConfig tiny_config() {
    SearchNetConfig cfg = test::tiny_search_net(3);
    cfg.in_channels = 3;
    cfg.classes = 4;
    return cfg;
}

Tensor random_images(int n, int c, int hw, uint64_t seed) {
    return Tensor::from_vector(test::uniform(int64_t(n) * c * hw * hw, seed), {n, c, hw, hw});
}

}  // namespace

TEST_SUITE("search_network") {
    TEST_CASE("search_network: C=16, 8 layers, 10 classes has the reference's 1,930,618 weights") {
        SearchNetwork net(SearchNetConfig{}, Device::cpu(), 1);
        CHECK(net.weights().total() == 1930618);
        CHECK(net.weights().size() == 1399);     // parameter tensors
        CHECK(net.buffers().size() == 929 * 2);  // running mean and variance of 929 BNs
        CHECK(net.alphas().total() == 2 * 14 * 8);
        // Registration order = the reference's parameters() order.
        CHECK(net.weights().names().front() == "stem.0.weight");
        CHECK(net.weights().names()[1] == "stem.1.weight");
        CHECK(net.weights().names()[3] == "cells.0.preprocess0.op.1.weight");
        CHECK(net.weights().names()[net.weights().size() - 2] == "classifier.weight");
        CHECK(net.weights().names().back() == "classifier.bias");
    }

    TEST_CASE("search_network: state-dict keys and shapes match the reference's examples") {
        SearchNetwork net(SearchNetConfig{}, Device::cpu(), 1);
        const std::vector<std::pair<std::string, Shape>> expect = {
            {"stem.0.weight", {48, 3, 3, 3}},
            {"stem.1.weight", {48}},
            {"stem.1.bias", {48}},
            {"stem.1.running_mean", {48}},
            {"stem.1.running_var", {48}},
            {"cells.0.preprocess0.op.1.weight", {16, 48, 1, 1}},
            {"cells.0.preprocess0.op.2.running_mean", {16}},
            {"cells.3.preprocess0.conv_1.weight", {16, 64, 1, 1}},
            {"cells.3.preprocess0.bn.running_var", {32}},
            {"cells.2._ops.0._ops.1.1.running_mean", {32}},
            {"cells.2._ops.0._ops.3.conv_2.weight", {16, 32, 1, 1}},
            {"cells.2._ops.0._ops.4.op.1.weight", {32, 1, 3, 3}},
            {"cells.2._ops.0._ops.4.op.6.weight", {32, 32, 1, 1}},
            {"cells.2._ops.0._ops.4.op.7.running_var", {32}},
            {"cells.7._ops.13._ops.7.op.1.weight", {64, 1, 5, 5}},
            {"cells.7._ops.13._ops.7.op.3.running_mean", {64}},
            {"classifier.weight", {10, 256}},
            {"classifier.bias", {10}},
            {"alphas_normal", {14, 8}},
            {"alphas_reduce", {14, 8}},
        };
        for (const auto& [name, shape] : expect) {
            INFO(name);
            CHECK(shape_str(shape_of(net, name)) == shape_str(shape));
        }
        // No keys for none, stride-1 skip, or affine parameters of search BNs.
        CHECK(shape_of(net, "cells.0._ops.0._ops.3.conv_1.weight").empty());
        CHECK(shape_of(net, "cells.0.preprocess0.op.2.weight").empty());
        std::set<std::string> all;
        for (const ParamStore* s : {&net.weights(), &net.buffers()})
            all.insert(s->names().begin(), s->names().end());
        CHECK(all.size() == 3257);
    }

    TEST_CASE("search_network: initialisation follows PyTorch 0.3.1 and α is 1e-3 N(0,1)") {
        SearchNetwork net(SearchNetConfig{}, Device::cpu(), 3);
        auto max_abs = [&](const std::string& name) {
            double m = 0;
            for (float v : net.weights().get(name).value().to_vector())
                m = std::max(m, double(std::abs(v)));
            return m;
        };
        // Depthwise 3x3 on 32 channels: bound 1/sqrt(32*9), not 1/sqrt(9).
        const double dw = max_abs("cells.2._ops.0._ops.4.op.1.weight");
        CHECK(dw <= 1.0 / std::sqrt(32.0 * 9.0));
        CHECK(dw > 0.8 / std::sqrt(32.0 * 9.0));
        CHECK(max_abs("classifier.bias") <= 1.0 / 16.0);
        const std::vector<float> a = net.alphas().flat_values().to_vector();
        double sq = 0;
        for (float v : a) sq += double(v) * v;
        const double stddev = std::sqrt(sq / double(a.size()));
        CHECK(stddev > 0.8e-3);
        CHECK(stddev < 1.2e-3);
        CHECK(net.buffers().get("stem.1.running_var").value().to_vector() ==
              std::vector<float>(48, 1.f));
    }

    TEST_CASE("search_network: cell output shapes follow the reference table") {
        SearchNetConfig cfg;
        cfg.classes = 7;
        SearchNetwork net(cfg, Device::cpu(), 1);
        NoGradGuard no_grad;
        const Var logits = net.forward(Var(random_images(2, 3, 32, 5)), {.training = true});
        CHECK(shape_str(logits.shape()) == "[2, 7]");
        for (float v : logits.value().to_vector()) CHECK(std::isfinite(v));
    }

    TEST_CASE("search_network: Katib's layer rule and any primitive list") {
        SearchNetConfig cfg = tiny_config();
        cfg.layers = 1;
        CHECK(!cfg.is_reduction(0));
        cfg.layers = 2;
        CHECK(!cfg.is_reduction(0));
        CHECK(cfg.is_reduction(1));
        cfg.layers = 8;
        CHECK(cfg.is_reduction(2));
        CHECK(cfg.is_reduction(5));
        cfg = tiny_config();
        cfg.layers = 1;
        cfg.primitives = {"max_pool_3x3", "skip_connect", "none"};  // Katib: none last
        SearchNetwork net(cfg, Device::cpu(), 2);
        CHECK(shape_str(net.alphas_normal().shape()) == "[5, 3]");
        NoGradGuard no_grad;
        CHECK(shape_str(net.forward(Var(random_images(3, 3, 8, 6))).shape()) == "[3, 4]");
        cfg.primitives = {"max_pool_5x5"};
        CHECK_THROWS_AS(SearchNetwork(cfg, Device::cpu(), 2), InputError);
    }

    TEST_CASE("search_network: the α gradient matches central differences") {
        SearchNetwork net(tiny_config(), Device::cpu(), 4);
        const Tensor x = random_images(6, 3, 8, 7);
        const Tensor y = Tensor::from_vector(test::labels(6, 4, 8), {6});
        // Larger α than at init, so that the softmax weights differ visibly.
        Tensor a = net.alphas().flat_values();
        a.copy_(Tensor::from_vector(test::uniform(a.numel(), 9), a.shape()));
        const ForwardMode mode{.training = true, .track_stats = false};
        backward(cross_entropy(net.forward(Var(x), mode), y), net.alphas().vars());
        const std::vector<float> analytic = net.alphas().flat_grads().to_vector();
        const std::vector<double> numeric = test::numeric_grad(
            [&](const std::vector<float>& v) {
                a.copy_(Tensor::from_vector(v, a.shape()));
                NoGradGuard no_grad;
                return double(cross_entropy(net.forward(Var(x), mode), y).value().item());
            },
            a.to_vector(), 1e-2);
        CHECK(test::check_grad(analytic, numeric, "dL/dalpha", 2e-2, 2e-3));
    }
}
