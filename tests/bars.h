// A synthetic image set that is cheap to make and provably learnable, for the learning tests.
// "Bars": each image holds one bright bar of length 5 at a random position on a noisy background;
// the class is its orientation (0 horizontal, 1 vertical, 2 diagonal, 3 anti-diagonal). A small
// convnet separates the classes perfectly, a linear model on pixels cannot (position varies).
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace cudarts {

struct ImageSet {
    Tensor images;  // (n, c, h, w) f32, CPU
    Tensor labels;  // (n) i32, CPU
    int classes = 0;
    int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// n images of (channels, size, size), size >= 7, deterministic in seed.
ImageSet make_bars(int n, int channels, int size, uint64_t seed);

// Copies samples idx[0..count) of `set` into a batch on `dev`.
void gather_batch(const ImageSet& set, const int64_t* idx, int count, Device dev, Tensor& images,
                  Tensor& labels);

}  // namespace cudarts
