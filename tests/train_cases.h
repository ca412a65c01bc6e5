// Runs small enough for the CPU suites: a training recipe and the search options.
#pragma once

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

}  // namespace cudarts::test
