// Batch assembly in one pass per sample: every output pixel is read straight from the uint8 source
// through the crop offset and the flip, and normalised through a 256-entry table per channel
// (the table holds exactly (float(p) / 255 - mean) / std, so results equal the formula bit for
// bit). Padding reads as pixel value 0. Cutout then overwrites its square with zeros.
#include "data/transforms.h"

#include <algorithm>
#include <numeric>

#include "engine/rng.h"
#include "kernels/check.h"
#include "kernels/philox.h"

namespace cudarts {

namespace {

// Salts keep the augmentation and shuffling streams apart even when a key equals an epoch.
constexpr uint64_t kAugmentSalt = 0x6175676d656e7421ull;  // "augment!"
constexpr uint64_t kShuffleSalt = 0x73687566666c6521ull;  // "shuffle!"

// Element of sample b's Philox stream used by each decision (block 0 holds the first four).
enum Draw : uint64_t { kCropY = 0, kCropX = 1, kFlip = 2, kCutY = 3, kCutX = 4 };

// splitmix64's finaliser: a bijection of 64-bit words that scatters nearby inputs.
uint64_t fmix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [0, n) from 32 random bits by multiply-shift (bias below n / 2^32).
int below(uint32_t bits, int n) { return int((uint64_t(bits) * uint64_t(n)) >> 32); }

}  // namespace

uint64_t mix64(uint64_t a, uint64_t b) {
    // For a fixed a this is a bijection in b, so distinct keys never share a stream.
    return fmix(fmix(a + 0x9E3779B97F4A7C15ull) ^ b);
}

void make_batch(const ImageDataset& set, std::span<const int64_t> idx, const Augment& aug,
                uint64_t seed, uint64_t key, float* images, int32_t* labels) {
    const int channels = set.channels, h = set.height, w = set.width;
    CUDARTS_CHECK(set.mean.size() == size_t(channels) && set.stddev.size() == size_t(channels),
                  "make_batch: " << set.name << " has " << set.mean.size() << " means and "
                                 << set.stddev.size() << " stds for " << channels << " channels");
    CUDARTS_CHECK(aug.crop_pad >= 0 && aug.cutout >= 0,
                  "make_batch: crop_pad " << aug.crop_pad << ", cutout " << aug.cutout);
    std::vector<float> table(size_t(channels) * 256);
    for (int c = 0; c < channels; ++c)
        for (int p = 0; p < 256; ++p)
            table[size_t(c * 256 + p)] =
                (float(p) / 255.f - set.mean[size_t(c)]) / set.stddev[size_t(c)];

    const int64_t plane = int64_t(h) * w, per_image = plane * channels;
    const uint64_t stream = mix64(seed ^ kAugmentSalt, key);
    for (size_t b = 0; b < idx.size(); ++b) {
        const int64_t i = idx[b];
        CUDARTS_CHECK(i >= 0 && i < set.size(), "make_batch: index " << i << " outside " << set.name
                                                                     << " of " << set.size()
                                                                     << " samples");
        const philox::U32x4 draw = philox::block(stream, b, 0);
        // Output (y, x) reads source (y + oy, x' + ox), x' = x or its mirror w - 1 - x.
        int oy = 0, ox = 0;
        if (aug.crop_pad > 0) {
            oy = below(draw.v[kCropY], 2 * aug.crop_pad + 1) - aug.crop_pad;
            ox = below(draw.v[kCropX], 2 * aug.crop_pad + 1) - aug.crop_pad;
        }
        const bool flip = aug.flip && (draw.v[kFlip] >> 31) != 0;  // p = 0.5
        const uint8_t* src = set.pixels.data() + i * per_image;
        float* out = images + int64_t(b) * per_image;
        for (int c = 0; c < channels; ++c) {
            const float* lut = table.data() + c * 256;
            for (int y = 0; y < h; ++y) {
                const int sy = y + oy;
                float* row = out + c * plane + int64_t(y) * w;
                if (sy < 0 || sy >= h) {  // a padding row
                    std::fill(row, row + w, lut[0]);
                    continue;
                }
                const uint8_t* src_row = src + c * plane + int64_t(sy) * w;
                for (int x = 0; x < w; ++x) {
                    const int sx = (flip ? w - 1 - x : x) + ox;
                    row[x] = lut[(sx >= 0 && sx < w) ? src_row[sx] : 0];
                }
            }
        }
        if (aug.cutout > 0) {
            const int cy = below(draw.v[kCutY], h);
            const int cx = below(philox::bits(stream, b, kCutX), w);
            const int y1 = std::clamp(cy - aug.cutout / 2, 0, h);
            const int y2 = std::clamp(cy + aug.cutout / 2, 0, h);
            const int x1 = std::clamp(cx - aug.cutout / 2, 0, w);
            const int x2 = std::clamp(cx + aug.cutout / 2, 0, w);
            for (int c = 0; c < channels; ++c)
                for (int y = y1; y < y2; ++y) {
                    float* row = out + c * plane + int64_t(y) * w;
                    std::fill(row + x1, row + x2, 0.f);
                }
        }
        labels[b] = set.labels[size_t(i)];
    }
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t epoch) {
    CUDARTS_CHECK(n >= 0, "permutation: n = " << n);
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t(0));
    Generator gen(mix64(seed ^ kShuffleSalt, epoch));
    for (int64_t i = n - 1; i > 0; --i)
        std::swap(order[size_t(i)], order[size_t(gen.below(uint64_t(i) + 1))]);
    return order;
}

}  // namespace cudarts
