// Grouped convolutions on CUDA (kernels/conv.h, conv2d_group_*): for every version of each
// direction that supports the shape, and the launchers, a group of 19 items (two chunks: 16 + 3)
// of random inputs gives each item the same bits as a call of its own: the forward, and the weight
// gradient with items in either GradMode. Depthwise shapes (the separable and dilated convs) take
// one launch per chunk; the 1x1 shape (cuBLAS, v3) a call per item. The single calls are checked
// against the CPU in test_conv_cuda.cpp.
#if CUDARTS_HAS_CUDA

#include <memory>
#include <vector>

#include "engine/counters.h"
#include "kernels/conv.h"
#include "tests/cuda_util.h"
#include "tests/util.h"

namespace cudarts {
namespace {

using namespace test;

constexpr int kItems = 19;

struct ItemData {
    DeviceVec x, w, dy, y, dw;
    ItemData(const Conv2dShape& s, int i)
        : x(uniform(s.in_elems(), 100 + i)),
          w(uniform(s.weight_elems(), 200 + i)),
          dy(uniform(s.out_elems(), 300 + i)),
          y(DeviceVec::poisoned(s.out_elems())),
          dw(uniform(s.weight_elems(), 400 + i)) {}  // accumulated into by the odd items
};

// Every item's y and dw after a grouped or an item-by-item run of `fwd` and `wgrad`.
template <class Fwd, class Weight>
std::vector<std::vector<float>> run(const Conv2dShape& s, const Fwd& fwd, const Weight& wgrad,
                                    bool grouped, int64_t chunk_launches) {
    std::vector<std::unique_ptr<ItemData>> data;
    std::vector<ConvFwdItem> f;
    std::vector<ConvWeightGradItem> g;
    for (int i = 0; i < kItems; ++i) {
        data.push_back(std::make_unique<ItemData>(s, i));
        const ItemData& d = *data.back();
        f.push_back({d.y.data(), d.x.data(), d.w.data()});
        g.push_back({d.dw.data(), d.dy.data(), d.x.data(),
                     i % 2 == 1 ? GradMode::kAccumulate : GradMode::kOverwrite});
    }
    if (grouped) {
        const RuntimeCounters before = runtime_counters();
        fwd.launch_group(f, s, test_stream());
        wgrad.launch_group(g, s, test_stream());
        const RuntimeCounters d = counters_since(before, runtime_counters());
        if (chunk_launches > 0) CHECK(d.launches == 2 * chunk_launches);
    } else {
        for (const ConvFwdItem& it : f) fwd.launch(it.y, it.x, it.w, s, test_stream());
        for (const ConvWeightGradItem& it : g)
            wgrad.launch(it.dw, it.dy, it.x, s, it.mode, test_stream());
    }
    std::vector<std::vector<float>> out;
    for (const auto& d : data) {
        out.push_back(fetch(d->y));
        out.push_back(fetch(d->dw));
    }
    return out;
}

// A depthwise convolution of n samples of c channels, hw x hw.
Conv2dShape depthwise(int n, int c, int hw, int k, int stride, int pad, int dil) {
    return {n, c, hw, hw, c, k, stride, pad, dil, c};
}

}  // namespace

TEST_SUITE("cuda_conv_group") {
    TEST_CASE("cuda conv2d_group: each item gets the bits of its own call") {
        // sep_conv_3x3, dil_conv_5x5 at stride 2 (depthwise), and a pointwise 1x1.
        const Conv2dShape shapes[] = {depthwise(2, 5, 9, 3, 1, 1, 1),
                                      depthwise(3, 4, 8, 5, 2, 4, 2),
                                      Conv2dShape{2, 6, 5, 7, 4, 1}};
        const int64_t chunks = (kItems + cuda::kConvGroupChunk - 1) / cuda::kConvGroupChunk;
        for (const Conv2dShape& s : shapes) {
            CAPTURE(s);
            cuda::Conv2dFwdVersion fwd_launcher{"launcher", nullptr, cuda::conv2d_fwd,
                                                cuda::conv2d_group_fwd};
            cuda::Conv2dBwdWeightVersion weight_launcher{
                "launcher", nullptr, cuda::conv2d_bwd_weight, cuda::conv2d_group_bwd_weight};
            std::vector<cuda::Conv2dFwdVersion> fwds{fwd_launcher};
            std::vector<cuda::Conv2dBwdWeightVersion> weights{weight_launcher};
            for (const auto& v : cuda::conv2d_fwd_versions())
                if (v.supports(s)) fwds.push_back(v);
            for (const auto& v : cuda::conv2d_bwd_weight_versions())
                if (v.supports(s)) weights.push_back(v);
            // Pair each forward version with each weight version of the same family.
            for (size_t k = 0; k < std::max(fwds.size(), weights.size()); ++k) {
                const auto& f = fwds[std::min(k, fwds.size() - 1)];
                const auto& w = weights[std::min(k, weights.size() - 1)];
                CAPTURE(f.name);
                CAPTURE(w.name);
                // Our kernels take a launch per chunk and direction; cuBLAS and v3 a call each.
                const bool ours = !s.is_pointwise();
                const auto single = run(s, f, w, false, 0);
                const auto grouped = run(s, f, w, true, ours ? chunks : 0);
                REQUIRE(single.size() == grouped.size());
                for (size_t i = 0; i < single.size(); ++i) {
                    CAPTURE(i);
                    check_bits(grouped[i], single[i]);
                }
            }
        }
    }
}

}  // namespace cudarts

#endif  // CUDARTS_HAS_CUDA
