// The batch path (data/transforms.h, data/loader.h). Transforms are checked against their
// definitions on a 3x9x11 set with known pixels: exact normalisation; every crop is a shifted copy
// padded with -mean/std and all (2 pad + 1)^2 offsets occur; flips are mirrors about half the time;
// cutout zeroes exactly one clipped square; the same (seed, key) rebuilds a batch bit for bit.
// permutation() is a permutation, pure in (seed, epoch) and uniform over the 6 orders of 3.
// The loader must return exactly make_batch's output, in order, across restarts and errors.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <set>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "engine/device.h"
#include "kernels/check.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

constexpr int kC = 3, kH = 9, kW = 11, kN = 6;

// Six images with distinct, asymmetric pixels; means chosen so that no pixel normalises to 0.
ImageDataset small_set() {
    ImageDataset set;
    set.name = "small";
    set.channels = kC;
    set.height = kH;
    set.width = kW;
    set.classes = kN;
    for (int i = 0; i < kN; ++i) {
        for (int c = 0; c < kC; ++c)
            for (int y = 0; y < kH; ++y)
                for (int x = 0; x < kW; ++x)
                    set.pixels.push_back(uint8_t((i * 31 + c * 7 + y * 13 + x * 5 + 11) % 256));
        set.labels.push_back(kN - 1 - i);
    }
    set.mean = {0.41f, 0.52f, 0.63f};
    set.stddev = {0.2f, 0.25f, 0.3f};
    return set;
}

struct Host {
    std::vector<float> images;
    std::vector<int32_t> labels;
};

Host batch(const ImageDataset& set, const std::vector<int64_t>& idx, const Augment& aug,
           uint64_t seed, uint64_t key) {
    Host h{std::vector<float>(idx.size() * size_t(set.image_bytes())),
           std::vector<int32_t>(idx.size())};
    make_batch(set, idx, aug, seed, key, h.images.data(), h.labels.data());
    return h;
}

// The definition: pixel (c, y, x) of the source, 0 outside it, then ToTensor and Normalize.
float source(const ImageDataset& set, int64_t i, int c, int y, int x) {
    const bool inside = y >= 0 && y < set.height && x >= 0 && x < set.width;
    const uint8_t p = inside ? set.pixels[size_t(((i * kC + c) * kH + y) * kW + x)] : 0;
    return (float(p) / 255.f - set.mean[size_t(c)]) / set.stddev[size_t(c)];
}

// Whether `out` is image i cropped at offset (oy, ox) from the unpadded origin, then mirrored.
bool is_transform(const float* out, const ImageDataset& set, int64_t i, int oy, int ox, bool flip) {
    for (int c = 0; c < kC; ++c)
        for (int y = 0; y < kH; ++y)
            for (int x = 0; x < kW; ++x)
                if (out[(c * kH + y) * kW + x] !=
                    source(set, i, c, y + oy, (flip ? kW - 1 - x : x) + ox))
                    return false;
    return true;
}

const std::vector<int64_t> kAll = {0, 1, 2, 3, 4, 5};
constexpr int64_t kPer = int64_t(kC) * kH * kW;

}  // namespace

TEST_SUITE("data") {
    TEST_CASE("data: make_batch without augmentation is exactly (p/255 - mean)/std, NCHW") {
        const ImageDataset set = small_set();
        const Host h = batch(set, {4, 0, 4}, Augment{}, 1, 2);
        CHECK(h.labels == std::vector<int32_t>{1, 5, 1});
        for (int b = 0; b < 3; ++b)
            CHECK(is_transform(h.images.data() + b * kPer, set, b == 1 ? 0 : 4, 0, 0, false));
        CHECK(h.images[0] == (float(set.pixels[size_t(4 * kPer)]) / 255.f - 0.41f) / 0.2f);
        CHECK_THROWS_AS(batch(set, {0, 6}, Augment{}, 1, 2), Error);
        CHECK_THROWS_AS(batch(set, {-1}, Augment{}, 1, 2), Error);
    }

    TEST_CASE("data: random crop is a zero-padded shifted copy and reaches every offset") {
        const ImageDataset set = small_set();
        for (bool flip : {false, true}) {
            CAPTURE(flip);
            std::set<std::pair<int, int>> offsets;
            int flipped = 0;
            for (uint64_t key = 0; key < 60; ++key) {
                const Host h = batch(set, kAll, Augment{.crop_pad = 2, .flip = flip}, 7, key);
                for (int b = 0; b < kN; ++b) {
                    bool found = false;
                    for (int oy = -2; oy <= 2 && !found; ++oy)
                        for (int ox = -2; ox <= 2 && !found; ++ox)
                            for (bool f : {false, true})
                                if (!found && (flip || !f) &&
                                    is_transform(h.images.data() + b * kPer, set, b, oy, ox, f)) {
                                    found = true;
                                    offsets.insert({oy, ox});
                                    flipped += f;
                                }
                    CHECK(found);
                }
            }
            CHECK(offsets.size() == 25);
            if (flip) {  // 360 fair coin flips: 180 +- 3 sigma (28)
                CHECK(flipped > 150);
                CHECK(flipped < 210);
            }
        }
    }

    TEST_CASE("data: flip alone mirrors about half the images and keeps the rest") {
        const ImageDataset set = small_set();
        int flipped = 0;
        for (uint64_t key = 0; key < 60; ++key) {
            const Host h = batch(set, kAll, Augment{.flip = true}, 3, key);
            for (int b = 0; b < kN; ++b) {
                const bool same = is_transform(h.images.data() + b * kPer, set, b, 0, 0, false);
                const bool mirrored = is_transform(h.images.data() + b * kPer, set, b, 0, 0, true);
                CHECK(same != mirrored);
                flipped += mirrored;
            }
        }
        CHECK(flipped > 150);
        CHECK(flipped < 210);
    }

    TEST_CASE("data: cutout zeroes one square of the right size, clipped at the borders") {
        const ImageDataset set = small_set();
        const Augment plain{.crop_pad = 2, .flip = true};
        for (int length : {4, 3}) {  // rows [cy - length / 2, cy + length / 2): 2 for length 3
            CAPTURE(length);
            const int half = length / 2;
            Augment cut = plain;
            cut.cutout = length;
            std::map<std::pair<int, int>, int> sizes;  // (rows, columns) zeroed -> count
            for (uint64_t key = 0; key < 40; ++key) {
                const Host want = batch(set, kAll, plain, 5, key);
                const Host got = batch(set, kAll, cut, 5, key);
                for (int b = 0; b < kN; ++b) {
                    // The crop and flip draws do not move when cutout is turned on: outside the
                    // hole the images agree, and the hole is one centre's clipped square in every
                    // channel.
                    bool found = false;
                    for (int cy = 0; cy < kH && !found; ++cy)
                        for (int cx = 0; cx < kW && !found; ++cx) {
                            const int y1 = std::max(cy - half, 0), y2 = std::min(cy + half, kH);
                            const int x1 = std::max(cx - half, 0), x2 = std::min(cx + half, kW);
                            bool all = true;
                            for (int64_t k = 0; k < kPer && all; ++k) {
                                const int y = int(k / kW % kH), x = int(k % kW);
                                const bool hole = y >= y1 && y < y2 && x >= x1 && x < x2;
                                all = got.images[size_t(b * kPer + k)] ==
                                      (hole ? 0.f : want.images[size_t(b * kPer + k)]);
                            }
                            if (all) {
                                found = true;
                                ++sizes[{y2 - y1, x2 - x1}];
                            }
                        }
                    CHECK(found);
                }
            }
            CHECK(sizes[{2 * half, 2 * half}] > 0);  // an interior centre
            CHECK(sizes[{half, 2 * half}] > 0);      // a centre on the top or bottom row
            CHECK(sizes[{2 * half, half}] > 0);      // a centre on the first or last column
            CHECK(sizes.size() >= 4);
        }
    }

    TEST_CASE("data: a batch is a pure function of (seed, key): same bits, other keys differ") {
        const ImageDataset set = small_set();
        const Augment aug{.crop_pad = 2, .flip = true, .cutout = 3};
        const Host a = batch(set, kAll, aug, 11, 42);
        const Host b = batch(set, kAll, aug, 11, 42);
        CHECK(std::memcmp(a.images.data(), b.images.data(), a.images.size() * sizeof(float)) == 0);
        CHECK(a.labels == b.labels);
        CHECK(a.images != batch(set, kAll, aug, 11, 43).images);
        CHECK(a.images != batch(set, kAll, aug, 12, 42).images);
        // Sample b's draws depend on its position, not on the rest of the batch.
        const Host one = batch(set, {0, 1, 2}, aug, 11, 42);
        CHECK(std::equal(one.images.begin(), one.images.end(), a.images.begin()));
        CHECK(mix64(1, 2) != mix64(2, 1));
    }

    TEST_CASE("data: permutation is a permutation, pure in (seed, epoch), uniform") {
        const std::vector<int64_t> p = permutation(1000, 2, 0);
        std::vector<int64_t> sorted = p;
        std::sort(sorted.begin(), sorted.end());
        std::vector<int64_t> iota(1000);
        std::iota(iota.begin(), iota.end(), 0);
        CHECK(sorted == iota);
        CHECK(p != iota);
        CHECK(permutation(1000, 2, 0) == p);
        CHECK(permutation(1000, 2, 1) != p);
        CHECK(permutation(1000, 3, 0) != p);
        CHECK(permutation(0, 2, 0).empty());
        CHECK(permutation(1, 2, 0) == std::vector<int64_t>{0});
        // The 6 orders of 3 over 1200 epochs: 200 each, +- 3.5 sigma (14.4).
        std::map<std::vector<int64_t>, int> count;
        for (uint64_t e = 0; e < 1200; ++e) ++count[permutation(3, 9, e)];
        CHECK(count.size() == 6);
        for (const auto& [order, n] : count) {
            CAPTURE(n);
            CHECK(std::abs(n - 200) < 50);
        }
    }

}  // TEST_SUITE

namespace {

// Takes a batch from `loader` for each of `reqs` and checks it bitwise against make_batch on the
// same request; `after` batches stay pending.
void check_stream(BatchLoader& loader, const ImageDataset& set, const Augment& aug, uint64_t seed,
                  const std::vector<BatchRequest>& reqs, size_t after = 0) {
    for (size_t r = 0; r < reqs.size(); ++r) {
        CAPTURE(r);
        CHECK(loader.remaining() == reqs.size() - r + after);
        const Batch got = loader.next();
        const Host want = batch(set, reqs[r].idx, aug, seed, reqs[r].key);
        const auto n = int64_t(reqs[r].idx.size());
        CHECK(got.images.shape() == Shape{n, set.channels, set.height, set.width});
        const std::vector<float> images = got.images.to_vector();
        CHECK(std::memcmp(images.data(), want.images.data(), images.size() * sizeof(float)) == 0);
        CHECK(got.labels.to_vector_i32() == want.labels);
    }
    CHECK(loader.remaining() == after);
}

}  // namespace

TEST_SUITE("loader") {
    TEST_CASE("loader: split_batches cuts an order into keyed batches") {
        const std::vector<int64_t> order = permutation(42, 1, 0);
        const std::vector<BatchRequest> reqs = split_batches(order, 4, uint64_t(3) << 32);
        REQUIRE(reqs.size() == 11);
        CHECK(reqs[10].idx == std::vector<int64_t>{order[40], order[41]});
        CHECK(reqs[2].idx == std::vector<int64_t>(order.begin() + 8, order.begin() + 12));
        CHECK(reqs[5].key == (uint64_t(3) << 32) + 5);
        CHECK(split_batches(order, 4, 0, true).size() == 10);
        CHECK_THROWS_AS(split_batches(order, 0, 0), Error);
    }

    TEST_CASE(
        "loader: batches equal make_batch bitwise, in order, and next() past the end throws") {
        const ImageDataset set = make_synthetic(40, 3, 8, 4, 3);
        const Augment aug{.crop_pad = 2, .flip = true, .cutout = 3};
        BatchLoader loader(set, aug, 9, Device::cpu(), 2);
        CHECK(loader.remaining() == 0);
        CHECK_THROWS_AS(loader.next(), Error);
        const std::vector<BatchRequest> reqs = split_batches(permutation(40, 9, 0), 4, 0);
        loader.start(reqs);
        check_stream(loader, set, aug, 9, reqs);
        CHECK_THROWS_AS(loader.next(), Error);
        // A second epoch through the same loader.
        const std::vector<BatchRequest> epoch1 =
            split_batches(permutation(40, 9, 1), 7, 1ull << 32);
        loader.start(epoch1);
        check_stream(loader, set, aug, 9, epoch1);
    }

    TEST_CASE("loader: start() mid-way replaces the pending batches") {
        const ImageDataset set = make_synthetic(40, 3, 8, 4, 3);
        const Augment aug{.crop_pad = 1, .flip = true};
        BatchLoader loader(set, aug, 4, Device::cpu(), 3);
        const std::vector<BatchRequest> first = split_batches(permutation(40, 4, 0), 4, 0);
        loader.start(first);
        check_stream(loader, set, aug, 4,
                     std::vector<BatchRequest>(first.begin(), first.begin() + 3),
                     7);  // 7 still pending
        const std::vector<BatchRequest> second = split_batches(permutation(40, 4, 5), 5, 500);
        loader.start(second);
        check_stream(loader, set, aug, 4, second);
    }

    TEST_CASE(
        "loader: an error on the worker reaches next() as Error, and later batches still come") {
        const ImageDataset set = make_synthetic(16, 1, 8, 4, 3);
        BatchLoader loader(set, Augment{}, 1, Device::cpu());
        const std::vector<BatchRequest> reqs = {{{0, 1}, 0}, {{2, 16}, 1}, {{3, 4}, 2}};
        loader.start(reqs);
        CHECK(loader.next().labels.to_vector_i32() == std::vector<int32_t>{0, 1});
        CHECK_THROWS_AS(loader.next(), Error);
        check_stream(loader, set, Augment{}, 1, {reqs[2]});
    }

    TEST_CASE("loader: destroying a loader with pending or unstarted work does not hang") {
        const ImageDataset set = make_synthetic(64, 3, 16, 4, 3);
        { BatchLoader idle(set, Augment{}, 1, Device::cpu()); }
        {
            BatchLoader busy(set, Augment{.crop_pad = 4, .flip = true}, 1, Device::cpu(), 1);
            busy.start(split_batches(permutation(64, 1, 0), 2, 0));
            CHECK(busy.next().images.size(0) == 2);
            CHECK(busy.remaining() == 31);
        }
    }

}  // TEST_SUITE

TEST_SUITE("cuda") {
    TEST_CASE("loader: batches on a CUDA device equal make_batch bitwise") {
        const ImageDataset set = make_synthetic(24, 3, 8, 4, 3);
        const Augment aug{.crop_pad = 2, .flip = true, .cutout = 2};
        BatchLoader loader(set, aug, 6, Device::cuda(0), 2);
        const std::vector<BatchRequest> reqs = split_batches(permutation(24, 6, 0), 5, 0);
        loader.start(reqs);
        const Batch b = loader.next();
        CHECK(b.images.device() == Device::cuda(0));
        CHECK(b.labels.device() == Device::cuda(0));
        loader.start(reqs);
        check_stream(loader, set, aug, 6, reqs);
    }

}  // TEST_SUITE
