// The bars set: background noise U(-0.2, 0.2) plus a bar of value 1 along one of four directions.
// Every random choice comes from the run's Philox Generator, so a seed fixes the set everywhere.
#include "tests/bars.h"

#include <cstring>

#include "engine/rng.h"
#include "kernels/check.h"

namespace cudarts {

ImageSet make_bars(int n, int channels, int size, uint64_t seed) {
    CUDARTS_CHECK(n > 0 && channels > 0 && size >= 7,
                  "make_bars: n=" << n << " channels=" << channels << " size=" << size);
    constexpr int kLen = 5;  // bar length in pixels
    constexpr int kClasses = 4;
    static const int kStep[kClasses][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};  // (dy, dx)
    Generator gen(seed);
    ImageSet set;
    set.classes = kClasses;
    set.images = Tensor::empty({n, channels, size, size});
    gen.uniform_(set.images, -0.2f, 0.2f);
    set.labels = Tensor::empty({n}, Device::cpu(), DType::kI32);
    float* img = set.images.f32();
    int32_t* lab = set.labels.i32();
    const int64_t plane = int64_t(size) * size;
    for (int i = 0; i < n; ++i) {
        const int cls = int(gen.below(kClasses));
        const int dy = kStep[cls][0], dx = kStep[cls][1];
        // Start positions that keep the whole bar inside the image.
        const int y0 = int(gen.below(uint64_t(size - (kLen - 1) * dy)));
        const int x_lo = dx < 0 ? kLen - 1 : 0;
        const int x0 = x_lo + int(gen.below(uint64_t(size - (kLen - 1) * (dx != 0 ? 1 : 0))));
        for (int c = 0; c < channels; ++c)
            for (int t = 0; t < kLen; ++t)
                img[(int64_t(i) * channels + c) * plane + (y0 + t * dy) * size + x0 + t * dx] =
                    1.0f;
        lab[i] = cls;
    }
    return set;
}

void gather_batch(const ImageSet& set, const int64_t* idx, int count, Device dev, Tensor& images,
                  Tensor& labels) {
    const Shape& s = set.images.shape();
    const int64_t per = s[1] * s[2] * s[3];
    Tensor host_img = Tensor::empty({count, s[1], s[2], s[3]});
    Tensor host_lab = Tensor::empty({count}, Device::cpu(), DType::kI32);
    for (int b = 0; b < count; ++b) {
        CUDARTS_CHECK(idx[b] >= 0 && idx[b] < set.size(), "gather_batch: index " << idx[b]);
        std::memcpy(host_img.f32() + b * per, set.images.f32() + idx[b] * per,
                    size_t(per) * sizeof(float));
        host_lab.i32()[b] = set.labels.i32()[idx[b]];
    }
    images = host_img.to(dev);
    labels = host_lab.to(dev);
}

}  // namespace cudarts
