// Grouped batch norms on CUDA (kernels/batchnorm.h, batch_norm_group_*): for every version, a
// group of 19 items (two launches' chunks: 16 + 3) of random inputs, with and without affine
// parameters and running statistics, gives each item the same bits as a call of its own, in one
// statistics and one apply launch per chunk; the backward, with items in either GradMode, items
// wanting only some gradients and one wanting none (skipped), likewise in one launch per chunk.
// Items with the ReLU fused give the bits of their own call followed by the elementwise ReLU (and
// in backward, the ReLU's backward first). The single calls are themselves checked against the
// CPU in test_batchnorm_cuda.cpp.
#if CUDARTS_HAS_CUDA

#include <memory>
#include <vector>

#include "engine/counters.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

constexpr int kItems = 19;
constexpr int64_t kChunks = (kItems + cuda::kBatchNormGroupChunk - 1) / cuda::kBatchNormGroupChunk;

// Item i's device tensors: inputs from seeds of its own, outputs poisoned.
struct ItemData {
    DeviceVec x, dy, y, mean, invstd, rm, rv, gamma, beta, dx, dgamma, dbeta, dy_masked;
    bool affine, track, relu;

    ItemData(const BatchNormShape& s, int i)
        : x(uniform(s.elems(), 100 + i, -2.f, 3.f)),
          dy(uniform(s.elems(), 200 + i)),
          y(DeviceVec::poisoned(s.elems())),
          mean(DeviceVec::poisoned(s.c)),
          invstd(DeviceVec::poisoned(s.c)),
          rm(uniform(s.c, 300 + i)),
          rv(uniform(s.c, 400 + i, 0.5f, 1.5f)),
          gamma(uniform(s.c, 500 + i, 0.5f, 2.f)),
          beta(uniform(s.c, 600 + i)),
          dx(uniform(s.elems(), 700 + i)),  // accumulated into by the kAccumulate items
          dgamma(uniform(s.c, 800 + i)),
          dbeta(uniform(s.c, 900 + i)),
          dy_masked(DeviceVec::poisoned(s.elems())),
          affine(i % 3 != 0),
          track(i % 4 != 1),
          relu(i % 3 == 1) {}

    BatchNormTrainItem train() const {
        return {y.data(),
                mean.data(),
                invstd.data(),
                track ? rm.data() : nullptr,
                track ? rv.data() : nullptr,
                x.data(),
                affine ? gamma.data() : nullptr,
                affine ? beta.data() : nullptr,
                relu};
    }
    // Item i's backward: every 5th item wants nothing, every 7th only dgamma/dbeta, the odd ones
    // accumulate. A ReLU item's single call reads the ReLU's backward of dy (dy_masked).
    BatchNormGradItem grad(int i, bool grouped) const {
        const bool none = i % 5 == 2, only_params = i % 7 == 3;
        return {none || only_params ? nullptr : dx.data(),
                none || !affine ? nullptr : dgamma.data(),
                none || !affine ? nullptr : dbeta.data(),
                relu && !grouped ? dy_masked.data() : dy.data(),
                x.data(),
                affine ? gamma.data() : nullptr,
                mean.data(),
                invstd.data(),
                i % 2 == 1 ? GradMode::kAccumulate : GradMode::kOverwrite,
                relu && grouped ? y.data() : nullptr};
    }
    std::vector<std::vector<float>> outputs() const {
        return {fetch(y),  fetch(mean), fetch(invstd), fetch(rm),
                fetch(rv), fetch(dx),   fetch(dgamma), fetch(dbeta)};
    }
};

std::vector<std::unique_ptr<ItemData>> make_items(const BatchNormShape& s) {
    std::vector<std::unique_ptr<ItemData>> items;
    for (int i = 0; i < kItems; ++i) items.push_back(std::make_unique<ItemData>(s, i));
    return items;
}

// Runs the forward and then the backward of every item, grouped or one call each, and returns
// each item's outputs; checks the launches a grouped run makes.
std::vector<std::vector<std::vector<float>>> run(const cuda::BatchNormVersion& v,
                                                 const BatchNormShape& s, bool grouped) {
    const auto items = make_items(s);
    std::vector<BatchNormTrainItem> train;
    std::vector<BatchNormGradItem> grads;
    int wanted = 0;
    for (int i = 0; i < kItems; ++i) {
        train.push_back(items[size_t(i)]->train());
        grads.push_back(items[size_t(i)]->grad(i, grouped));
        const BatchNormGradItem& g = grads.back();
        wanted += g.dx || g.dgamma || g.dbeta;
    }
    if (grouped) {
        const RuntimeCounters before = runtime_counters();
        v.fwd_train_group(train, s, kBnMomentum, kBnEps, test_stream());
        CHECK(counters_since(before, runtime_counters()).launches == 2 * kChunks);
        const RuntimeCounters mid = runtime_counters();
        v.bwd_train_group(grads, s, test_stream());
        const int64_t bwd_chunks =
            (wanted + cuda::kBatchNormGroupChunk - 1) / cuda::kBatchNormGroupChunk;
        CHECK(counters_since(mid, runtime_counters()).launches == bwd_chunks);
    } else {
        for (const BatchNormTrainItem& t : train) {
            v.fwd_train(t.y, t.save_mean, t.save_invstd, t.running_mean, t.running_var, t.x,
                        t.gamma, t.beta, s, kBnMomentum, kBnEps, test_stream());
            if (t.relu) cuda::relu_fwd(t.y, t.y, s.elems(), test_stream());
        }
        for (const auto& it : items)
            if (it->relu)
                cuda::relu_bwd(it->dy_masked.data(), it->dy.data(), it->y.data(), s.elems(),
                               GradMode::kOverwrite, test_stream());
        for (const BatchNormGradItem& g : grads)
            v.bwd_train(g.dx, g.dgamma, g.dbeta, g.dy, g.x, g.gamma, g.save_mean, g.save_invstd, s,
                        g.mode, test_stream());
    }
    std::vector<std::vector<std::vector<float>>> out;
    for (const auto& it : items) out.push_back(it->outputs());
    return out;
}

}  // namespace

TEST_SUITE("cuda_batchnorm_group") {
    TEST_CASE("cuda batch_norm_group: each item gets the bits of its own call, in few launches") {
        const BatchNormShape shapes[] = {{3, 5, 7 * 7}, {4, 6, 31 * 23}, {2, 3, 1}};
        for (const BatchNormShape& s : shapes) {
            CAPTURE(s);
            for_each_version(cuda::batch_norm_versions(), s, [&](const cuda::BatchNormVersion& v) {
                const auto single = run(v, s, false);
                const auto grouped = run(v, s, true);
                REQUIRE(single.size() == grouped.size());
                for (size_t i = 0; i < single.size(); ++i) {
                    CAPTURE(i);
                    const char* names[] = {
                        "y",           "save_mean", "save_invstd", "running_mean",
                        "running_var", "dx",        "dgamma",      "dbeta"};
                    for (size_t k = 0; k < single[i].size(); ++k) {
                        CAPTURE(names[k]);
                        check_bits(grouped[i][k], single[i][k]);
                    }
                }
            });
        }
    }

    TEST_CASE("cuda batch_norm_group: the launcher takes the preferred version") {
        // v2 from 2048 values per channel: the launcher's bits are v2's there and v1's below.
        for (const BatchNormShape& s : {BatchNormShape{2, 3, 1023}, BatchNormShape{2, 3, 1024}}) {
            CAPTURE(s);
            const auto versions = cuda::batch_norm_versions();
            const cuda::BatchNormVersion& want = versions[versions[1].supports(s) ? 1 : 0];
            const auto items = make_items(s);
            const auto items_want = make_items(s);
            std::vector<BatchNormTrainItem> a, b;
            for (int i = 0; i < kItems; ++i) {
                a.push_back(items[size_t(i)]->train());
                b.push_back(items_want[size_t(i)]->train());
            }
            cuda::batch_norm_group_fwd_train(a, s, kBnMomentum, kBnEps, test_stream());
            want.fwd_train_group(b, s, kBnMomentum, kBnEps, test_stream());
            for (int i = 0; i < kItems; ++i) {
                check_bits(fetch(items[size_t(i)]->y), fetch(items_want[size_t(i)]->y));
                check_bits(fetch(items[size_t(i)]->invstd), fetch(items_want[size_t(i)]->invstd));
            }
        }
    }
}

}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
