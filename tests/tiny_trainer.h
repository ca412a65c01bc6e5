// The learning tests' training loop: SGD with momentum over a small image set. It is deliberately
// plain (shuffle, batch, forward, backward, clip, step), so that a failure to learn points at the
// engine rather than at the loop; the real loops are in models/run/.
#pragma once

#include <functional>

#include "models/nn/optim.h"
#include "tests/bars.h"
#include "tests/tiny_convnet.h"

namespace cudarts {

struct TrainOptions {
    int epochs = 20;
    int batch = 32;
    float lr = 0.05f, momentum = 0.9f, weight_decay = 3e-4f, alpha_lr = 0.01f;
    uint64_t seed = 0;
};

struct EpochStats {
    int epoch = 0;
    double loss = 0, acc = 0;  // running averages over the epoch's training batches
    double seconds = 0;
};

// Trains `net` on `set`; calls on_epoch after every epoch. Returns the last epoch's stats.
EpochStats train_classifier(TinyConvNet& net, const ImageSet& set, Device dev,
                            const TrainOptions& opt,
                            const std::function<void(const EpochStats&)>& on_epoch = {});

// Top-1 accuracy over the whole set in eval mode (BN running statistics, no tape).
double evaluate_accuracy(TinyConvNet& net, const ImageSet& set, Device dev, int batch = 128);

}  // namespace cudarts
