// Training a child network (reference/katib.md 2.5, done as intended): Adam (lr 1e-3), batch 128,
// cross-entropy on the logits, random horizontal flip and a translation of up to a tenth of the
// image (a random crop from the zero-padded image: Keras fills with the nearest pixel instead),
// pixels scaled to [0, 1] once. Validation is a split held out from the training images; the test
// split is reported apart and never chooses anything.
//
// The pieces are shared with the `enas` search (models/enas/search.h), whose children train for a
// budget of batches on shared weights: `train_batches` runs any list of batches through any child.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "models/enas/child.h"
#include "models/nn/optim.h"
#include "models/run/loop.h"

namespace cudarts::enas {

// What a training step needs of a child: its logits and the update after a backward to `params`.
struct ChildModel {
    std::function<Var(const Var& x, ForwardMode mode)> logits;
    std::vector<Var> params;
    std::function<void()> step;
};

// Trains `child` on the batches `requests` of `set`, one step each (the loss of every batch
// checked finite at `epoch`); returns the mean loss and top-1 accuracy over them.
std::pair<double, double> train_batches(const ChildModel& child, const ImageDataset& set,
                                        std::vector<BatchRequest> requests, const Augment& aug,
                                        uint64_t aug_seed, Device dev, int epoch,
                                        const std::function<void(const StepInfo&)>& on_step = {});

// Katib's input scaling done once: pixels / 255, no mean or deviation (ENAS children see [0, 1]).
void scale_pixels_once(ImageDataset& set);

// The augmentation of 2.5: flip and a crop from the image padded by a tenth of its height.
Augment katib_augment(const ImageDataset& set);

struct TrialOptions {
    int epochs = 10;
    int batch_size = 128;
    float lr = 1e-3f;
    uint64_t seed = 0;
    void validate() const;  // InputError naming the flag
};

struct TrialEpoch {
    int epoch = 0;
    double train_loss = 0, train_acc = 0, valid_loss = 0, valid_acc = 0, test_loss = 0,
           test_acc = 0, seconds = 0;
    nlohmann::json to_json() const;
};

// enas-trial's loop: one ChildNetwork with its own weights and Adam.
class ChildTrainer {
public:
    // `test` may be empty (no test figures). The sets are held by reference.
    ChildTrainer(ChildNetwork& net, TrialOptions opt, const ImageDataset& train,
                 const ImageDataset& valid, const ImageDataset& test);
    bool done() const { return epoch_ >= opt_.epochs; }
    int epoch() const { return epoch_; }
    TrialEpoch run_epoch(const std::function<void(const StepInfo&)>& on_step = {});
    int steps_per_epoch() const;

private:
    ChildNetwork& net_;
    TrialOptions opt_;
    const ImageDataset &train_, &valid_, &test_;
    Adam adam_;
    int epoch_ = 0;
};

// Every image of `set` once, in order, in batches of batch_size (no augmentation keys needed).
std::vector<BatchRequest> whole_set_batches(const ImageDataset& set, int batch_size);

// Mean loss and top-1 of a child over the whole of `set` (eval mode, no augmentation).
std::pair<double, double> evaluate_child(const ChildModel& child, const ImageDataset& set,
                                         int batch_size, Device dev);

}  // namespace cudarts::enas
