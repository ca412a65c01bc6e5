// Training-time augmentation and batch assembly, with torchvision's semantics (reference/darts.md
// section 0 and 6.4): RandomCrop(h, padding) zero-pads the uint8 image, so padded pixels become
// -mean/std after normalising; horizontal flip with p 0.5; ToTensor (/255) and Normalize per
// channel; then Cutout, which zeroes a length x length square (clipped at the borders) of the
// normalised image in all channels.
// Randomness is counter-based and keyed, not a running stream: sample b of a batch draws Philox
// stream (mix(seed, key), offset b), one fixed element per decision (crop y, crop x, flip, cutout
// y, cutout x). A batch is therefore a pure function of (dataset, indices, aug, seed, key): any
// thread can prepare it, a resumed run rebuilds it exactly from its key, and turning one transform
// on or off leaves the others' draws unchanged. The data order is the same kind of function:
// permutation(n, seed, epoch).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "data/dataset.h"

namespace cudarts {

struct Augment {
    int crop_pad = 0;   // RandomCrop(h, padding=crop_pad) with zero padding of the uint8 image
    bool flip = false;  // horizontal flip with p 0.5
    int cutout = 0;     // cutout length (0 = off), applied after normalisation, p = 1
};

// A 64-bit mix of two words (splitmix64's finaliser over a ^ rotated-and-scaled b): distinct
// (a, b) pairs give unrelated Philox keys.
uint64_t mix64(uint64_t a, uint64_t b);

// Assembles a batch: for b in [0, idx.size()): image idx[b] -> (optional crop, flip) -> /255 ->
// (x-mean)/std -> (optional cutout), written NCHW to images[b*C*H*W...], labels[b] = label.
// Throws Error for an index outside the dataset (before writing that sample).
void make_batch(const ImageDataset& set, std::span<const int64_t> idx, const Augment& aug,
                uint64_t seed, uint64_t key, float* images, int32_t* labels);

// A uniformly random permutation of [0, n) (Fisher-Yates driven by a Generator), pure in
// (seed, epoch).
std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t epoch);

}  // namespace cudarts
