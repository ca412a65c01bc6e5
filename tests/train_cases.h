// A training recipe small enough for the CPU suites: DARTS_V2 at C=4 in 3 cells without the
// auxiliary head, 2 epochs of batch 16 (cutout 2, lr 0.05, seed 3).
#pragma once

#include "models/run/train.h"

namespace cudarts::test {

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

}  // namespace cudarts::test
