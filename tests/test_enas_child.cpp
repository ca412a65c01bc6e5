// ENAS search space, trial inputs and child network (models/enas/space.h, child.h, trial.h).
#include <doctest/doctest.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "engine/json.h"
#include "models/enas/child.h"
#include "models/enas/trial.h"
#include "tests/enas_cases.h"  // kKatibExample
#include "tests/util.h"

namespace cudarts::test {
namespace {

using namespace cudarts::enas;

NnConfig config_of(const std::string& text) {
    return parse_nn_config(parse_json(text, "test nn_config"), "--nn_config");
}

// A small nn_config over every op type, 8x8 images with 2 channels and 3 classes.
const char* kSmallConfig = R"({"num_layers": 4, "input_sizes": [8, 8, 2], "output_sizes": [3],
  "embedding": {
    "0": {"opt_id": 0, "opt_type": "convolution", "opt_params": {"filter_size": "3", "num_filter": "4", "stride": "2"}},
    "1": {"opt_id": 1, "opt_type": "separable_convolution", "opt_params": {"filter_size": "3", "num_filter": "3", "stride": "1", "depth_multiplier": "2"}},
    "2": {"opt_id": 2, "opt_type": "depthwise_convolution", "opt_params": {"filter_size": "5", "stride": "1", "depth_multiplier": "1"}},
    "3": {"opt_id": 3, "opt_type": "reduction", "opt_params": {"reduction_type": "avg_pooling", "pool_size": 2}}}})";
const Architecture kSmallArch = {{0}, {1, 1}, {2, 0, 1}, {3, 1, 0, 1}};

}  // namespace

TEST_SUITE("enas_child") {
    TEST_CASE("Katib's GPU space: 106 ops with ids in product order, last parameter fastest") {
        const SearchSpace s = katib_gpu_space();
        REQUIRE(s.ops.size() == 106);
        CHECK(s.num_layers == 8);
        CHECK(s.ops[0].label() == "conv 3x3 x32");
        CHECK(s.ops[1].label() == "conv 3x3 x32 /2");
        CHECK(s.ops[27].label() == "conv 7x7 x96 /2");  // 2.4's example entry
        CHECK(s.ops[29].label() == "conv 7x7 x128 /2");
        CHECK(s.ops[30].label() == "sep 3x3 x32 m1");
        CHECK(s.ops[31].label() == "sep 3x3 x32 m2");
        CHECK(s.ops[89].label() == "sep 7x7 x128 m2 /2");
        CHECK(s.ops[90].label() == "dw 3x3 m1");
        CHECK(s.ops[101].label() == "dw 7x7 m2 /2");
        CHECK(s.ops[102].label() == "max 2x2 /2");
        CHECK(s.ops[103].label() == "max 3x3 /3");
        CHECK(s.ops[105].label() == "avg 3x3 /3");
        // The space written out and read back gives the same ids.
        const SearchSpace back = parse_search_space(s.to_json(), "round trip");
        CHECK(back.ops == s.ops);
        // An nn_config for the example holds exactly its ops and reads back the same.
        const NnConfig c = s.nn_config(kKatibExample);
        CHECK(c.embedding.size() == 8);
        const std::string katib_text = c.to_katib().dump();
        const NnConfig again = config_of(katib_text);
        CHECK(again.embedding == c.embedding);
        CHECK(
            katib_text.find(
                R"("27":{"opt_id":27,"opt_params":{"filter_size":"7","num_filter":"96","stride":"2"},"opt_type":"convolution"})") !=
            std::string::npos);
    }

    TEST_CASE("the documentation's example child: layer shapes and parameter count by hand") {
        const ChildPlan plan =
            plan_child(katib_gpu_space().nn_config(kKatibExample), kKatibExample, "example");
        REQUIRE(plan.layers.size() == 8);
        // (inputs, concatenated channels and size, output channels and size) per layer, from
        // 2.3's rows over the GPU space's ops (27 conv 7x7 x96 /2, 29 conv 7x7 x128 /2, 22 conv
        // 7x7 x48, 13 conv 5x5 x48 /2, 26 conv 7x7 x96, 30 sep 3x3 x32 m1, 11 conv 5x5 x32 /2,
        // 9 conv 3x3 x128 /2) on 32x32x3 images.
        struct Want {
            std::vector<int> inputs;
            int in_c, in_hw, out_c, out_hw;
        };
        const Want want[] = {
            {{0}, 3, 32, 96, 16},                  // ceil(32 / 2)
            {{1}, 96, 16, 128, 8},                 // the input's bit is 0
            {{2, 0}, 128 + 3, 32, 48, 32},         // layer 2 (8x8) padded to the image's 32x32
            {{3}, 48, 32, 48, 16},                 //
            {{4, 0, 1}, 48 + 3 + 96, 32, 96, 32},  //
            {{5, 0, 2}, 96 + 3 + 128, 32, 32, 32},
            {{6, 1, 2, 4, 5}, 32 + 96 + 128 + 48 + 96, 32, 32, 16},
            {{7, 0, 3}, 32 + 3 + 48, 32, 128, 16},
        };
        for (size_t l = 0; l < 8; ++l) {
            CAPTURE(l + 1);
            const LayerPlan& p = plan.layers[l];
            CHECK(p.inputs == want[l].inputs);
            CHECK(p.in_c == want[l].in_c);
            CHECK(p.in_h == want[l].in_hw);
            CHECK(p.in_w == want[l].in_hw);
            CHECK(p.out_c == want[l].out_c);
            CHECK(p.out_h == want[l].out_hw);
            CHECK(p.out_w == want[l].out_hw);
        }
        // Keras 'same' for 7x7 stride 2 on 32: out 16, padding 15 * 2 + 7 - 32 = 5, 2 above and
        // 3 below; for 5x5 stride 1 it is 2 and 2.
        CHECK(plan.layers[0].same.top == 2);
        CHECK(plan.layers[0].same.bottom == 3);
        CHECK(plan.layers[2].same.top == 3);
        CHECK(plan.layers[2].same.bottom == 3);
        // Layer 3's inputs: layer 2 (8x8) gets 12 rows and columns on each side; the image none.
        CHECK(plan.layers[2].input_pad[0].top == 12);
        CHECK(plan.layers[2].input_pad[0].right == 12);
        CHECK(!plan.layers[2].input_pad[1].any());

        // Parameters: conv k*k*c_in*c_out + bias c_out, BN gamma and beta 2 c_out; the separable
        // layer: depthwise 9 * 227, pointwise 227 * 32, bias and BN; the classifier 128 * 10 + 10.
        const int64_t by_hand = (49 * 3 * 96 + 96 + 2 * 96)           // 14400
                                + (49 * 96 * 128 + 128 + 2 * 128)     // 602496
                                + (49 * 131 * 48 + 48 + 2 * 48)       // 308256
                                + (25 * 48 * 48 + 48 + 2 * 48)        // 57744
                                + (49 * 147 * 96 + 96 + 2 * 96)       // 691776
                                + (9 * 227 + 227 * 32 + 32 + 2 * 32)  // 9403
                                + (25 * 400 * 32 + 32 + 2 * 32)       // 320096
                                + (9 * 83 * 128 + 128 + 2 * 128)      // 96000
                                + (128 * 10 + 10);
        CHECK(by_hand == 2101461);
        ChildNetwork net(plan, Device::cpu(), 1);
        CHECK(net.weights().total() == by_hand);
        CHECK(net.buffers().total() == 2 * (96 + 128 + 48 + 48 + 96 + 32 + 32 + 128));
        CHECK(net.weights().get("layers.6.pointwise.weight").value().shape() ==
              Shape{32, 227, 1, 1});
        CHECK(net.weights().get("layers.1.conv.weight").value().shape() == Shape{96, 3, 7, 7});

        // One image through it gives ten finite logits.
        NoGradGuard no_grad;
        const Var x(Tensor::from_vector(uniform(3 * 32 * 32, 5), {1, 3, 32, 32}));
        const Tensor logits = net.forward(x, {.training = false}).value();
        CHECK(logits.shape() == Shape{1, 10});
        for (float v : logits.to_vector()) CHECK(std::isfinite(v));
    }

    TEST_CASE("opt_params are honoured (Katib's trial gives every conv 3x3, 64 filters)") {
        const std::string base = R"({"num_layers": 1, "input_sizes": [8, 8, 3], "output_sizes": [4],
            "embedding": {"7": {"opt_id": 7, "opt_type": "convolution", "opt_params": )";
        const NnConfig given =
            config_of(base + R"({"filter_size": "5", "num_filter": 8, "stride": "2"}}}})");
        const NnConfig defaults = config_of(base + R"({}}}})");
        const ChildPlan a = plan_child(given, {{7}}, "a"), b = plan_child(defaults, {{7}}, "b");
        CHECK(a.layers[0].out_c == 8);
        CHECK(a.layers[0].out_h == 4);
        CHECK(b.layers[0].out_c == 64);
        CHECK(b.layers[0].out_h == 8);
        ChildNetwork na(a, Device::cpu(), 3), nb(b, Device::cpu(), 3);
        CHECK(na.weights().get("layers.1.conv.weight").value().shape() == Shape{8, 3, 5, 5});
        CHECK(nb.weights().get("layers.1.conv.weight").value().shape() == Shape{64, 3, 3, 3});
        // Pool parameters: 3x3 average pools with stride 1 keep 6 of 8 rows.
        const NnConfig pool =
            config_of(R"({"num_layers": 1, "input_sizes": [8, 8, 3], "output_sizes": [4],
            "embedding": {"0": {"opt_type": "reduction", "opt_params": {"reduction_type": "avg_pooling", "pool_size": 3, "stride": 1}}}})");
        const ChildPlan p = plan_child(pool, {{0}}, "p");
        CHECK(p.layers[0].out_h == 6);
        CHECK(p.layers[0].out_c == 3);
        CHECK(!p.layers[0].op.max_pool);
    }

    TEST_CASE(
        "a reduction on a 1-pixel map is the identity; a window larger than the map is refused") {
        const NnConfig c =
            config_of(R"({"num_layers": 3, "input_sizes": [4, 4, 1], "output_sizes": [2],
            "embedding": {"0": {"opt_type": "reduction", "opt_params": {"pool_size": 2}},
                          "1": {"opt_type": "reduction", "opt_params": {"pool_size": 3}}}})");
        const ChildPlan p = plan_child(c, {{0}, {0, 0}, {0, 0, 0}}, "p");
        CHECK(p.layers[1].out_h == 1);
        CHECK(p.layers[2].identity);
        CHECK(p.layers[2].out_h == 1);
        const std::string msg = error_of([&] {
            plan_child(c, {{0}, {1, 0}, {0, 0, 0}}, "--architecture");
        });
        check_names(msg, "--architecture", "row 2: a 3x3 pool on a 2x2 map", true);
    }

    TEST_CASE("the child's gradient matches finite differences (every op type, skips, padding)") {
        const ChildPlan plan = plan_child(config_of(kSmallConfig), kSmallArch, "small");
        ChildNetwork net(plan, Device::cpu(), 11);
        const Var x(Tensor::from_vector(uniform(3 * 2 * 8 * 8, 12), {3, 2, 8, 8}));
        const Tensor y = Tensor::from_vector(std::vector<int32_t>{0, 2, 1}, {3});
        // BN in training mode without tracking, so every evaluation sees the same function.
        const auto loss = [&] {
            return cross_entropy(net.forward(x, {.training = true, .track_stats = false}), y);
        };
        const GradCheckResult r =
            grad_check(loss, net.weights().vars(), {.eps = 1e-3, .rtol = 3e-2, .atol = 2e-3});
        INFO(r.report);
        CHECK(r.ok);
        CHECK(r.checked == net.weights().total());
    }

    TEST_CASE("nn_config and architecture errors are one line naming the flag") {
        const auto nn_error = [](const std::string& text) {
            return error_of([&] { config_of(text); });
        };
        check_names(nn_error(R"({"input_sizes": [8, 8, 3], "output_sizes": [2], "embedding": {}})"),
                    "--nn_config", "missing 'num_layers'", true);
        check_names(
            nn_error(
                R"({"num_layers": 1, "input_sizes": [8, 8], "output_sizes": [2], "embedding": {"0": {"opt_type": "convolution"}}})"),
            "--nn_config", "expected [height, width, channels]", true);
        check_names(
            nn_error(
                R"({"num_layers": 1, "input_sizes": [8, 8, 3], "output_sizes": [2], "embedding": {"0": {"opt_type": "pooling"}}})"),
            "--nn_config", "unknown operation type 'pooling'", true);
        check_names(
            nn_error(
                R"({"num_layers": 1, "input_sizes": [8, 8, 3], "output_sizes": [2], "embedding": {"0": {"opt_type": "convolution", "opt_params": {"filter_size": "4"}}}})"),
            "--nn_config", "expected an odd integer 1..15, got 4", true);
        check_names(
            nn_error(
                R"({"num_layers": 1, "input_sizes": [8, 8, 3], "output_sizes": [2], "embedding": {"0": {"opt_type": "convolution", "opt_params": {"depth_multiplier": "2"}}}})"),
            "--nn_config", "convolution has no parameter 'depth_multiplier'", true);
        check_names(
            nn_error(
                R"({"num_layers": 1, "input_sizes": [8, 8, 3], "output_sizes": [2], "embedding": {"0": {"opt_type": "reduction", "opt_params": {"reduction_type": "min_pooling"}}}})"),
            "--nn_config", "expected max_pooling or avg_pooling", true);
        check_names(
            nn_error(
                R"({"num_layers": 1, "input_sizes": [8, 8, 3], "output_sizes": [2], "embedding": {"0": {"opt_id": 1, "opt_type": "convolution"}}})"),
            "--nn_config", "differs from its key", true);

        const NnConfig c = config_of(kSmallConfig);
        const auto arch_error = [&](const std::string& text) {
            return error_of([&] {
                plan_child(c, parse_architecture(parse_json(text, "t"), "--architecture"),
                           "--architecture");
            });
        };
        check_names(arch_error("[[0], [1, 1], [2, 0, 1]]"), "--architecture", "expected 4 rows",
                    true);
        check_names(arch_error("[[0], [1, 1, 0], [2, 0, 1], [3, 1, 0, 1]]"), "--architecture",
                    "row 2: expected 2 integers", true);
        check_names(arch_error("[[0], [1, 2], [2, 0, 1], [3, 1, 0, 1]]"), "--architecture",
                    "skip bit 1 is 2", true);
        check_names(arch_error("[[9], [1, 1], [2, 0, 1], [3, 1, 0, 1]]"), "--architecture",
                    "op 9 is not in the nn_config's embedding", true);
        check_names(arch_error("[[0], [1, \"x\"], [2, 0, 1], [3, 1, 0, 1]]"), "--architecture",
                    "expected an integer", true);
        check_names(arch_error("{\"rows\": 1}"), "--architecture", "expected a list of rows", true);
    }

    TEST_CASE("a short trial learns the synthetic images (training loss falls, Adam 1e-3)") {
        ImageDataset train = make_synthetic(384, 3, 16, 4, 1),
                     valid = make_synthetic(128, 3, 16, 4, 2);
        scale_pixels_once(train);
        scale_pixels_once(valid);
        const NnConfig c =
            config_of(R"({"num_layers": 3, "input_sizes": [16, 16, 3], "output_sizes": [4],
            "embedding": {"0": {"opt_type": "convolution", "opt_params": {"num_filter": "8"}},
                          "1": {"opt_type": "reduction", "opt_params": {"pool_size": 2}}}})");
        ChildNetwork net(plan_child(c, {{0}, {1, 0}, {0, 0, 0}}, "t"), Device::cpu(), 4);
        ChildTrainer trainer(net, {.epochs = 5, .batch_size = 32, .lr = 3e-3f, .seed = 5}, train,
                             valid, ImageDataset{});
        std::vector<TrialEpoch> epochs;
        while (!trainer.done()) epochs.push_back(trainer.run_epoch());
        CAPTURE(epochs.front().train_loss);
        CAPTURE(epochs.back().train_loss);
        CHECK(epochs.back().train_loss < 0.8 * epochs.front().train_loss);
        CHECK(epochs.back().train_acc > 0.5);
        for (const TrialEpoch& e : epochs) CHECK(std::isfinite(e.valid_loss));
    }
}

}  // namespace cudarts::test
