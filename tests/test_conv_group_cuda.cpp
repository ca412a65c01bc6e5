// Grouped convolutions on CUDA (kernels/conv.h, conv2d_group_*): for every version of each
// direction that supports the shape, and the launchers, a group of 19 items (two chunks: 16 + 3)
// of random inputs gives each item the same bits as a call of its own: the forward, and the weight
// gradient with items in either GradMode. The input gradient's items share dx six ways (the convs
// of one input), in modes that change along a dx's items, and its runs cross the chunk boundary:
// each dx gets the bits of the single calls in sequence, and the CPU's group within tolerance.
// Our kernels (depthwise v1 and v2, and the 1x1 pw and v3) take one launch per chunk; cuBLAS a
// call per item. The single calls are checked against the CPU in test_conv_cuda.cpp.
#if CUDARTS_HAS_CUDA

#include <cmath>
#include <memory>
#include <span>
#include <string>
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

// The dx an input-gradient item i writes: items 0..17 cycle over dx 0, 1, 2 (so dx 0's run of 6
// items and dx 1's of 6 fill 12 of the first chunk's 16 slots, and dx 2's run crosses into the
// second chunk), item 18 has dx 3 to itself.
int dx_of(int i) { return i < 18 ? i % 3 : 3; }

// Item i's mode: dx 1's first item (1) accumulates onto dx 1's start, item 9 overwrites what dx
// 0's items 0, 3 and 6 summed; the rest overwrite first and accumulate after.
GradMode data_mode(int i) {
    const bool overwrite = i == 0 || i == 2 || i == 9 || i == 18;
    return overwrite ? GradMode::kOverwrite : GradMode::kAccumulate;
}

// Every dx after the input gradient of kItems items run as `how`: 0 the version's group launch,
// 1 its single calls in item order, 2 the CPU's group.
std::vector<std::vector<float>> run_data(const Conv2dShape& s, const cuda::Conv2dBwdDataVersion& v,
                                         int how, int64_t chunk_launches) {
    std::vector<std::vector<float>> dy, w, dx;
    for (int i = 0; i < kItems; ++i) {
        dy.push_back(uniform(s.out_elems(), 500 + i));
        w.push_back(uniform(s.weight_elems(), 600 + i));
    }
    for (int d = 0; d < 4; ++d)  // dx 1 starts from values its first item accumulates onto
        dx.push_back(d == 1 ? uniform(s.in_elems(), 700)
                            : std::vector<float>(size_t(s.in_elems()), std::nanf("")));
    if (how == 2) {
        std::vector<ConvDataGradItem> items;
        for (int i = 0; i < kItems; ++i)
            items.push_back({dx[size_t(dx_of(i))].data(), dy[size_t(i)].data(), w[size_t(i)].data(),
                             data_mode(i)});
        cpu::conv2d_group_bwd_data(items, s);
        return dx;
    }
    std::vector<std::unique_ptr<DeviceVec>> dy_d, w_d, dx_d;
    std::vector<ConvDataGradItem> items;
    for (int d = 0; d < 4; ++d) dx_d.push_back(std::make_unique<DeviceVec>(dx[size_t(d)]));
    for (int i = 0; i < kItems; ++i) {
        dy_d.push_back(std::make_unique<DeviceVec>(dy[size_t(i)]));
        w_d.push_back(std::make_unique<DeviceVec>(w[size_t(i)]));
        items.push_back({dx_d[size_t(dx_of(i))]->data(), dy_d.back()->data(), w_d.back()->data(),
                         data_mode(i)});
    }
    if (how == 0) {
        const RuntimeCounters before = runtime_counters();
        v.launch_group(items, s, test_stream());
        const RuntimeCounters d = counters_since(before, runtime_counters());
        if (chunk_launches > 0) CHECK(d.launches == chunk_launches);
    } else {
        for (const ConvDataGradItem& it : items)
            v.launch(it.dx, it.dy, it.w, s, it.mode, test_stream());
    }
    std::vector<std::vector<float>> out;
    for (const auto& d : dx_d) out.push_back(fetch(*d));
    return out;
}

}  // namespace

TEST_SUITE("cuda_conv_group") {
    TEST_CASE("cuda conv2d_group_bwd_data: items of one dx sum in order, as the single calls") {
        const Conv2dShape shapes[] = {depthwise(2, 3, 7, 3, 1, 1, 1),
                                      depthwise(2, 2, 8, 5, 2, 4, 2),
                                      Conv2dShape{2, 6, 5, 7, 4, 1}};
        const int64_t chunks = (kItems + cuda::kConvGroupChunk - 1) / cuda::kConvGroupChunk;
        for (const Conv2dShape& s : shapes) {
            CAPTURE(s);
            std::vector<cuda::Conv2dBwdDataVersion> versions{
                {"launcher", nullptr, cuda::conv2d_bwd_data, cuda::conv2d_group_bwd_data}};
            for (const auto& v : cuda::conv2d_bwd_data_versions())
                if (v.supports(s)) versions.push_back(v);
            const auto cpu_dx = run_data(s, versions[0], 2, 0);
            for (const auto& v : versions) {
                CAPTURE(v.name);
                // Our kernels take a launch per chunk; cuBLAS a call per item.
                const bool ours = std::string(v.name) != "cublas";
                const auto single = run_data(s, v, 1, 0);
                const auto grouped = run_data(s, v, 0, ours ? chunks : 0);
                for (size_t d = 0; d < single.size(); ++d) {
                    CAPTURE(d);
                    check_bits(grouped[d], single[d]);
                    check_close(grouped[d], cpu_dx[d], 1e-5, 1e-5, "grouped dx against the CPU");
                }
            }
        }
    }

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
                // Our kernels take a launch per chunk and direction; cuBLAS a call per item.
                const bool ours =
                    std::string(f.name) != "cublas" && std::string(w.name) != "cublas";
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
