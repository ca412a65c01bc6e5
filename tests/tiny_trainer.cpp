// train_classifier: one Philox generator orders the samples, so a seed fixes the whole run.
#include "tests/tiny_trainer.h"

#include <chrono>
#include <numeric>
#include <vector>

#include "kernels/softmax.h"

namespace cudarts {

EpochStats train_classifier(TinyConvNet& net, const ImageSet& set, Device dev,
                            const TrainOptions& opt,
                            const std::function<void(const EpochStats&)>& on_epoch) {
    Generator order_gen(opt.seed ^ 0x5eedULL);
    Sgd sgd(net.params(),
            {.lr = opt.lr, .momentum = opt.momentum, .weight_decay = opt.weight_decay});
    std::vector<Var> weights = net.params().vars();
    std::vector<int64_t> idx(size_t(set.size()));
    EpochStats stats;
    for (int epoch = 0; epoch < opt.epochs; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        std::iota(idx.begin(), idx.end(), 0);
        for (size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[order_gen.below(i)]);
        double loss_sum = 0, correct = 0;
        int64_t seen = 0;
        for (int64_t start = 0; start < set.size(); start += opt.batch) {
            const int count = int(std::min<int64_t>(opt.batch, set.size() - start));
            Tensor images, labels;
            gather_batch(set, idx.data() + start, count, dev, images, labels);
            Var logits = net.forward(Var(images), true);
            Var loss = cross_entropy(logits, labels);
            std::vector<Var> wrt = weights;
            wrt.push_back(net.alpha());
            backward(loss, wrt);
            clip_grad_norm(net.params(), 5.0);
            sgd.step();
            {  // plain gradient step on the mixing logits, enough for this demo network
                const Tensor& a = net.alpha().value();
                const std::vector<float> g = net.alpha().grad().to_vector();
                std::vector<float> v = a.to_vector();
                for (size_t k = 0; k < v.size(); ++k) v[k] -= opt.alpha_lr * g[k];
                a.copy_(Tensor::from_vector(v, a.shape()));
            }
            const Tensor host_logits = logits.value().to(Device::cpu());
            const Tensor host_labels = labels.to(Device::cpu());
            correct += double(cpu::count_correct(host_logits.f32(), host_labels.i32(), count,
                                                 int(host_logits.size(1)), 1));
            loss_sum += double(loss.value().item()) * count;
            seen += count;
        }
        stats.epoch = epoch;
        stats.loss = loss_sum / double(seen);
        stats.acc = correct / double(seen);
        stats.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (on_epoch) on_epoch(stats);
    }
    return stats;
}

double evaluate_accuracy(TinyConvNet& net, const ImageSet& set, Device dev, int batch) {
    NoGradGuard no_grad;
    std::vector<int64_t> idx(size_t(set.size()));
    std::iota(idx.begin(), idx.end(), 0);
    double correct = 0;
    for (int64_t start = 0; start < set.size(); start += batch) {
        const int count = int(std::min<int64_t>(batch, set.size() - start));
        Tensor images, labels;
        gather_batch(set, idx.data() + start, count, dev, images, labels);
        const Tensor logits = net.forward(Var(images), false).value().to(Device::cpu());
        const Tensor host_labels = labels.to(Device::cpu());
        correct += double(
            cpu::count_correct(logits.f32(), host_labels.i32(), count, int(logits.size(1)), 1));
    }
    return correct / double(set.size());
}

}  // namespace cudarts
