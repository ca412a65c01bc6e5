// Runs small enough for the CPU suites: a training recipe, the search options and a step bench.
#pragma once

#include "bench/step_bench.h"
#include "models/run/search.h"
#include "models/run/train.h"

namespace cudarts::test {

// DARTS_V2 at C=4 in 3 cells without the auxiliary head, 2 epochs of batch 16 (cutout 2, lr 0.05,
// seed 3).
inline TrainRecipe tiny_recipe() {
    TrainRecipe r;
    r.net.genotype = *builtin_genotype("DARTS_V2");
    r.net.init_channels = 4;
    r.net.layers = 3;
    r.net.auxiliary = false;
    r.epochs = 2;
    r.batch_size = 16;
    r.lr = 0.05f;
    r.augment.cutout = 2;
    r.seed = 3;
    return r;
}

// A search network at C=4 over `layers` cells of 2 nodes; every other setting at its default.
inline SearchNetConfig tiny_search_net(int layers) {
    SearchNetConfig cfg;
    cfg.init_channels = 4;
    cfg.layers = layers;
    cfg.nodes = 2;
    return cfg;
}

// A search over tiny_search_net(layers), `epochs` epochs of batch 16; every other option at its
// default.
inline SearchOptions tiny_search_options(int layers, int epochs) {
    SearchOptions o;
    o.net = tiny_search_net(layers);
    o.epochs = epochs;
    o.batch_size = 16;
    return o;
}

// The step benchmark on dev at tiny shapes, first order: C=4, 3 cells (normal, reduction,
// reduction) of 1 node, 3x8x8 images, 3 classes, batch 2, one warm-up and `steps` timed steps.
inline bench::StepBenchOptions tiny_step_bench(Device dev, int steps) {
    SearchNetConfig net = tiny_search_net(3);
    net.nodes = 1;
    return {.device = dev,
            .batch = 2,
            .steps = steps,
            .warmup = 1,
            .net = net,
            .image_size = 8,
            .classes = 3};
}

}  // namespace cudarts::test
