#include "models/enas/trial.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/ops.h"
#include "data/transforms.h"
#include "kernels/check.h"

namespace cudarts::enas {
namespace {

enum SeedStream : uint64_t { kOrder = 21, kAugment = 22, kEvalKeys = 1ull << 62 };

}  // namespace

std::vector<BatchRequest> whole_set_batches(const ImageDataset& set, int batch_size) {
    std::vector<int64_t> all(size_t(set.size()));
    std::iota(all.begin(), all.end(), int64_t(0));
    return split_batches(all, batch_size, kEvalKeys);
}

std::pair<double, double> train_batches(const ChildModel& child, const ImageDataset& set,
                                        std::vector<BatchRequest> requests, const Augment& aug,
                                        uint64_t aug_seed, Device dev, int epoch,
                                        const std::function<void(const StepInfo&)>& on_step) {
    const int steps = int(requests.size());
    BatchLoader loader(set, aug, aug_seed, dev);
    loader.start(std::move(requests));
    EpochAccumulator sums;
    for (int s = 0; s < steps; ++s) {
        const Batch batch = loader.next();
        const Var logits = child.logits(Var(batch.images), {.training = true});
        const Var loss = cross_entropy(logits, batch.labels);
        const double l = sums.add(loss, logits, batch.labels);
        require_finite(l, "loss", {epoch, s, 0});
        backward(loss, child.params);
        child.step();
        if (on_step) on_step({epoch, s, steps, l, sums.acc()});
    }
    return {sums.loss(), sums.acc()};
}

void scale_pixels_once(ImageDataset& set) {
    set.mean.assign(size_t(set.channels), 0.f);
    set.stddev.assign(size_t(set.channels), 1.f);
}

Augment katib_augment(const ImageDataset& set) {
    return {.crop_pad = std::max(1, int(std::lround(0.1 * set.height))), .flip = true, .cutout = 0};
}

void TrialOptions::validate() const {
    if (epochs < 1 || epochs > 100000)
        throw InputError("--num_epochs: expected 1..100000, got " + std::to_string(epochs));
    if (batch_size < 1 || batch_size > 65536)
        throw InputError("--batch-size: expected 1..65536, got " + std::to_string(batch_size));
    if (!(lr > 0.f) || !std::isfinite(lr))
        throw InputError("--learning-rate: expected a positive number, got " + std::to_string(lr));
}

nlohmann::json TrialEpoch::to_json() const {
    return {{"epoch", epoch + 1},       {"train_loss", train_loss}, {"train_acc", train_acc},
            {"valid_loss", valid_loss}, {"valid_acc", valid_acc},   {"test_loss", test_loss},
            {"test_acc", test_acc},     {"seconds", seconds}};
}

std::pair<double, double> evaluate_child(const ChildModel& child, const ImageDataset& set,
                                         int batch_size, Device dev) {
    return evaluate_batches(set, whole_set_batches(set, batch_size), Augment{}, 0, dev,
                            [&](const Var& x) { return child.logits(x, {.training = false}); });
}

ChildTrainer::ChildTrainer(ChildNetwork& net, TrialOptions opt, const ImageDataset& train,
                           const ImageDataset& valid, const ImageDataset& test)
    : net_(net),
      opt_(opt),
      train_(train),
      valid_(valid),
      test_(test),
      adam_(net.weights(), AdamOptions{.lr = opt.lr}) {
    opt_.validate();
}

int ChildTrainer::steps_per_epoch() const { return steps_for(train_.size(), opt_.batch_size); }

TrialEpoch ChildTrainer::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    const auto t0 = begin_epoch(done(), "ChildTrainer::run_epoch", opt_.epochs);
    const ChildModel model{
        .logits = [this](const Var& x, ForwardMode mode) { return net_.forward(x, mode); },
        .params = net_.weights().vars(),
        .step = [this] { adam_.step(); }};
    TrialEpoch m;
    m.epoch = epoch_;
    const int steps = steps_per_epoch();
    const std::vector<int64_t> order =
        permutation(train_.size(), mix64(opt_.seed, kOrder), uint64_t(epoch_));
    std::tie(m.train_loss, m.train_acc) = train_batches(
        model, train_, split_batches(order, opt_.batch_size, uint64_t(epoch_) * uint64_t(steps)),
        katib_augment(train_), mix64(opt_.seed, kAugment), net_.device(), epoch_, on_step);
    std::tie(m.valid_loss, m.valid_acc) =
        evaluate_child(model, valid_, opt_.batch_size, net_.device());
    require_finite(m.valid_loss, "the validation loss", {epoch_, -1, opt_.lr});
    if (test_.size() > 0)
        std::tie(m.test_loss, m.test_acc) =
            evaluate_child(model, test_, opt_.batch_size, net_.device());
    ++epoch_;
    m.seconds = epoch_seconds(t0);
    return m;
}

}  // namespace cudarts::enas
