// End to end through the tape on the GPU: the learning test's convnet (convs with dilation and
// groups, both BN kinds, both pools, the softmax-mixed edge, global pool, linear, cross-entropy)
// gives the same loss, logits and gradients on CUDA as on the CPU from the same weights and batch,
// and one SGD step moves the weights the same way. Tolerances are loose relative to single kernels
// (1e-4) because errors compound through eight layers of float32.
#if CUDARTS_HAS_CUDA

#include "tests/tiny_trainer.h"
#include "tests/util.h"

using namespace cudarts;

TEST_SUITE("cuda_autograd") {
    TEST_CASE(
        "cuda autograd: the learning test's convnet matches the CPU in loss, gradients and one SGD "
        "step") {
        const ImageSet set = make_bars(48, 1, 12, 3);
        TinyConvNet cpu_net(1, set.classes, Device::cpu(), 4),
            gpu_net(1, set.classes, Device::cuda(), 4);
        gpu_net.params().flat_values().copy_(cpu_net.params().flat_values());
        gpu_net.alpha().value().copy_(cpu_net.alpha().value());
        std::vector<int64_t> idx(48);
        for (int i = 0; i < 48; ++i) idx[size_t(i)] = i;
        auto run = [&](TinyConvNet& net, Device dev, std::vector<float>& logits, float& loss) {
            Tensor images, labels;
            gather_batch(set, idx.data(), 48, dev, images, labels);
            Var out = net.forward(Var(images), true);
            Var l = cross_entropy(out, labels);
            std::vector<Var> wrt = net.params().vars();
            wrt.push_back(net.alpha());
            backward(l, wrt);
            logits = out.value().to_vector();
            loss = l.value().item();
            Sgd sgd(net.params(), {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 3e-4f});
            sgd.step();
        };
        std::vector<float> lc, lg;
        float loss_c = 0, loss_g = 0;
        run(cpu_net, Device::cpu(), lc, loss_c);
        run(gpu_net, Device::cuda(), lg, loss_g);
        CHECK(loss_g == doctest::Approx(loss_c).epsilon(1e-5));
        test::check_close(lg, lc, 1e-4, 1e-5, "logits");
        test::check_close(gpu_net.params().flat_grads().to_vector(),
                          cpu_net.params().flat_grads().to_vector(), 1e-3, 1e-5,
                          "weight gradients");
        test::check_close(gpu_net.alpha().grad().to_vector(), cpu_net.alpha().grad().to_vector(),
                          1e-3, 1e-6, "alpha gradient");
        test::check_close(gpu_net.params().flat_values().to_vector(),
                          cpu_net.params().flat_values().to_vector(), 1e-4, 1e-6,
                          "weights after SGD");
    }

    TEST_CASE("cuda autograd: batch_norm_group with an input given twice matches the CPU") {
        // The two uses of x0 write one gradient: on a GPU they must not share a launch (the op
        // runs them in two). The emulator runs a grid's blocks one after another, so it cannot
        // show that race; this checks the two contributions add up as on the CPU.
        const auto run = [](Device dev) {
            Var x0(Tensor::from_vector(test::uniform(3 * 5 * 16, 31), {3, 5, 4, 4}, dev), true);
            Var x1(Tensor::from_vector(test::uniform(3 * 5 * 16, 32), {3, 5, 4, 4}, dev), true);
            const std::vector<Var> y = batch_norm_group(
                {x0, x1, x0}, {Tensor(), Tensor(), Tensor()}, {Tensor(), Tensor(), Tensor()});
            Var loss;
            for (size_t i = 0; i < y.size(); ++i) {
                const Var r(
                    Tensor::from_vector(test::uniform(y[i].numel(), 40 + i), y[i].shape(), dev));
                const Var p = sum(mul(y[i], r));
                loss = loss.defined() ? add(loss, p) : p;
            }
            backward(loss);
            return std::vector<std::vector<float>>{x0.grad().to_vector(), x1.grad().to_vector()};
        };
        const auto cpu = run(Device::cpu()), gpu = run(Device::cuda());
        test::check_close(gpu[0], cpu[0], 1e-4, 1e-5, "dx0 (two uses)");
        test::check_close(gpu[1], cpu[1], 1e-4, 1e-5, "dx1");
    }
}

#endif  // CUDARTS_HAS_CUDA
