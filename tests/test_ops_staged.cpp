// The staged form of the DARTS ops (models/darts/ops.h, forward_staged), on the CPU: every search
// primitive twice at stride 1 on one input (two edges leaving one state, sharing its ReLU and
// pools) and at stride 2 on another (so two shapes of norms in one call), plus the cell's
// preprocessing ops, run through forward_staged, give each op the outputs, running statistics and
// weight gradients of its own forward() bit for bit, and the inputs' gradients up to the order
// their contributions are added in; in eval mode too.
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/check.h"
#include "models/darts/ops.h"
#include "models/darts/primitives.h"
#include "tests/grad_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

constexpr int kC = 4;

// One set of ops and their stores; two built with the same seed hold the same numbers.
struct OpSet {
    ParamStore weights, buffers;
    std::vector<std::unique_ptr<Primitive>> ops;
    std::vector<int> input_of;

    OpSet() {
        ModelBuilder b(weights, buffers);
        const OpOptions opt{.affine = false, .bn_after_pool = true};
        // Two edges on x0 (so their pools are shared), one at stride 2 on x1.
        int k = 0;
        for (const int stride : {1, 2, 1}) {
            for (const PrimitiveSpec& p : primitive_table()) {
                std::string prefix = "op";
                prefix += std::to_string(k++);
                ops.push_back(make_primitive(p.official, kC, stride, opt, b, prefix));
                input_of.push_back(stride - 1);
            }
        }
        ops.push_back(std::make_unique<ReluConvBn>(kC, kC, false, b, "pre1"));
        input_of.push_back(0);
        ops.push_back(std::make_unique<FactorizedReduce>(kC, kC, false, b, "pre0"));
        input_of.push_back(1);
        Generator gen(17);
        b.finalize(Device::cpu(), gen);
        // Running statistics away from their initial 0 and 1, so that eval mode uses real ones.
        Tensor rs = buffers.flat_values();
        rs.copy_(Tensor::from_vector(test::uniform(rs.numel(), 18, 0.5f, 1.5f), rs.shape()));
    }
    std::vector<const Primitive*> raw() const {
        std::vector<const Primitive*> r;
        for (const auto& op : ops) r.push_back(op.get());
        return r;
    }
};

struct Run {
    std::vector<std::vector<float>> outputs;
    std::vector<float> weight_grads, running, dx0, dx1;
};

// Runs every op, staged or one forward() each, and one backward of a random probe of each output.
Run run(bool staged, bool training) {
    OpSet set;
    const ForwardMode mode{.training = training, .track_stats = true};
    const Forward f{set.weights, set.buffers, mode};
    Var x0 = test::leaf({2, kC, 6, 6}, 1), x1 = test::leaf({2, kC, 6, 6}, 2);
    const std::vector<Var> inputs{x0, x1};
    std::vector<Var> ys;
    if (staged) {
        ys = forward_staged(set.raw(), set.input_of, inputs, f);
    } else {
        for (size_t i = 0; i < set.ops.size(); ++i)
            ys.push_back(set.ops[i]->forward(inputs[size_t(set.input_of[i])], f));
    }
    Run r;
    Var loss;
    for (size_t i = 0; i < ys.size(); ++i) {
        r.outputs.push_back(ys[i].defined() ? ys[i].value().to_vector() : std::vector<float>{});
        if (!ys[i].defined()) continue;  // none
        const Var p = test::probe(ys[i], 100 + i);
        loss = loss.defined() ? add(loss, p) : p;
    }
    backward(loss);
    r.weight_grads = set.weights.flat_grads().to_vector();
    r.running = set.buffers.flat_values().to_vector();
    r.dx0 = x0.grad().to_vector();
    r.dx1 = x1.grad().to_vector();
    return r;
}

}  // namespace

TEST_SUITE("search_network") {
    TEST_CASE("forward_staged: each op's outputs, statistics and gradients are its forward's") {
        for (const bool training : {true, false}) {
            CAPTURE(training);
            const Run staged = run(true, training), single = run(false, training);
            REQUIRE(staged.outputs.size() == single.outputs.size());
            for (size_t i = 0; i < staged.outputs.size(); ++i) {
                CAPTURE(i);
                CHECK(staged.outputs[i] == single.outputs[i]);
            }
            CHECK(staged.running == single.running);
            CHECK(staged.weight_grads == single.weight_grads);
            // Every op reads x0 or x1, so their gradients add many contributions, in another order.
            test::check_close(staged.dx0, single.dx0, 1e-5, 1e-5, "dx0");
            test::check_close(staged.dx1, single.dx1, 1e-5, 1e-5, "dx1");
        }
    }

    TEST_CASE("forward_staged: each op's stages, one after another, are its forward") {
        // stage() then stage_bn(), with the ReLU between stages where stage_relu says: the
        // separable and dilated convs through Primitive::stage's default (their depthwise conv,
        // then their 1x1 conv), the pools and FactorizedReduce through their own.
        OpSet set;
        const Forward f{set.weights, set.buffers,
                        ForwardMode{.training = true, .track_stats = false}};
        const Var x = test::leaf({2, kC, 6, 6}, 3);
        for (size_t i = 0; i < set.ops.size(); ++i) {
            CAPTURE(i);
            const Primitive& op = *set.ops[i];
            if (op.stages() == 0) continue;
            StageInput in(x);
            Var y;
            for (int s = 0; s < op.stages(); ++s) {
                y = f.bn(op.stage(s, in, f), op.stage_bn(s));
                in = op.stage_relu(s) ? StageInput::of_relu(relu(y)) : StageInput(y);
            }
            CHECK(y.value().to_vector() == op.forward(x, f).value().to_vector());
        }
    }

    TEST_CASE("forward_staged: refuses mismatched inputs") {
        OpSet set;
        const Forward f{set.weights, set.buffers, ForwardMode{}};
        const Var x = test::leaf({2, kC, 6, 6}, 1);
        CHECK_THROWS_AS(forward_staged(set.raw(), {0}, {x}, f), Error);
        std::vector<int> out_of_range(set.ops.size(), 1);
        CHECK_THROWS_AS(forward_staged(set.raw(), out_of_range, {x}, f), Error);
    }
}
