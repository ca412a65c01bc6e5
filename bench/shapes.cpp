#include "bench/shapes.h"

#include <algorithm>
#include <iterator>

namespace cudarts::shapes {

std::string DartsPlane::name(int n) const {
    return "DARTS N=" + std::to_string(n) + " C=" + std::to_string(c) + " " + std::to_string(hw) +
           "x" + std::to_string(hw);
}

namespace {

// A depthwise convolution (groups = c_in = c_out = c) by its geometry alone.
struct Depthwise {
    int n, c, h, w, k, stride = 1, pad = 0, dil = 1;
    Conv2dShape shape() const {
        return {.n = n,
                .c_in = c,
                .h = h,
                .w = w,
                .c_out = c,
                .k = k,
                .stride = stride,
                .pad = pad,
                .dil = dil,
                .groups = c};
    }
};

// A depthwise convolution of C channels on an hw x hw plane, "same" padding.
Conv2dShape depthwise(int n, int c, int hw, int k, int stride, int dil) {
    const Depthwise d{.n = n,
                      .c = c,
                      .h = hw,
                      .w = hw,
                      .k = k,
                      .stride = stride,
                      .pad = dil * (k - 1) / 2,
                      .dil = dil};
    return d.shape();
}

}  // namespace

std::vector<Conv2dShape> darts_depthwise(int n, int dil) {
    std::vector<Conv2dShape> out;
    for (const DartsPlane& p : kDartsPlanes)
        for (const int k : {3, 5})
            for (const int stride : {1, 2}) out.push_back(depthwise(n, p.c, p.hw, k, stride, dil));
    return out;
}

std::vector<Conv2dShape> darts_pointwise(int n) {
    std::vector<Conv2dShape> out;
    for (const DartsPlane& p : kDartsPlanes)
        out.push_back({.n = n, .c_in = p.c, .h = p.hw, .w = p.hw, .c_out = p.c, .k = 1});
    return out;
}

std::vector<Conv2dShape> odd_conv2d() {
    const Depthwise depthwise_shapes[] = {
        {.n = 3, .c = 5, .h = 7, .w = 7, .k = 3, .pad = 1},
        {.n = 3, .c = 5, .h = 7, .w = 7, .k = 3, .stride = 2, .pad = 1},
        {.n = 2, .c = 5, .h = 9, .w = 9, .k = 3, .pad = 2, .dil = 2},
        {.n = 2, .c = 5, .h = 9, .w = 8, .k = 5, .stride = 2, .pad = 2},
        {.n = 2, .c = 3, .h = 17, .w = 34, .k = 5, .pad = 4, .dil = 2},
        {.n = 3, .c = 5, .h = 17, .w = 34, .k = 3, .stride = 2, .pad = 2, .dil = 2},
        {.n = 2, .c = 3, .h = 45, .w = 70, .k = 5, .pad = 2},
        {.n = 2, .c = 3, .h = 67, .w = 41, .k = 3, .stride = 2, .pad = 2, .dil = 2},
        {.n = 1, .c = 2, .h = 100, .w = 100, .k = 5, .stride = 2, .pad = 20, .dil = 10},
        {.n = 1, .c = 2, .h = 90, .w = 90, .k = 5, .pad = 40, .dil = 20},
        {.n = 9, .c = 2, .h = 13, .w = 11, .k = 7, .stride = 3},
        {.n = 2, .c = 3, .h = 11, .w = 12, .k = 9, .pad = 4},
        {.n = 3, .c = 4, .h = 5, .w = 6, .k = 1},
    };
    std::vector<Conv2dShape> out;
    for (const Depthwise& d : depthwise_shapes) out.push_back(d.shape());
    // Dense, grouped with two channels per group, and 1x1.
    const Conv2dShape other_shapes[] = {
        {.n = 2, .c_in = 4, .h = 9, .w = 8, .c_out = 6, .k = 3, .pad = 1},
        {.n = 2, .c_in = 4, .h = 6, .w = 7, .c_out = 6, .k = 3, .stride = 2, .pad = 1, .groups = 2},
        {.n = 1, .c_in = 2, .h = 5, .w = 6, .c_out = 3, .k = 2, .stride = 3},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 6, .k = 1},
        {.n = 2, .c_in = 17, .h = 17, .w = 34, .c_out = 9, .k = 1},
        {.n = 3, .c_in = 5, .h = 7, .w = 7, .c_out = 6, .k = 1, .stride = 2},
    };
    out.insert(out.end(), std::begin(other_shapes), std::end(other_shapes));
    return out;
}

std::vector<Conv2dShape> darts_conv2d(int n) {
    std::vector<Conv2dShape> out;
    for (const int dil : {1, 2})
        for (const Conv2dShape& s : darts_depthwise(n, dil)) out.push_back(s);
    // A reduction cell's inputs keep the previous stage's plane; only its stride-2 ops read them.
    for (const DartsPlane& p : {DartsPlane{32, 32}, DartsPlane{64, 16}})
        for (const int k : {3, 5})
            for (const int dil : {1, 2}) out.push_back(depthwise(n, p.c, p.hw, k, 2, dil));
    for (const Conv2dShape& s : darts_pointwise(n)) out.push_back(s);
    out.push_back({.n = n, .c_in = 48, .h = 32, .w = 32, .c_out = 16, .k = 1});
    out.push_back({.n = n, .c_in = 64, .h = 32, .w = 32, .c_out = 16, .k = 1, .stride = 2});
    out.push_back({.n = n, .c_in = 3, .h = 32, .w = 32, .c_out = 48, .k = 3, .pad = 1});
    return out;
}

std::vector<Pool2dShape> darts_pool2d(int n) {
    std::vector<Pool2dShape> out;
    for (const DartsPlane& p : kDartsPlanes)
        for (const int stride : {1, 2})
            out.push_back(
                {.n = n, .c = p.c, .h = p.hw, .w = p.hw, .k = 3, .stride = stride, .pad = 1});
    return out;
}

std::vector<Pool2dShape> pool2d(int n) {
    std::vector<Pool2dShape> out = {
        {.n = 3, .c = 5, .h = 7, .w = 7, .k = 3, .stride = 1, .pad = 1},
        {.n = 3, .c = 5, .h = 7, .w = 7, .k = 3, .stride = 2, .pad = 1},
        {.n = 2, .c = 3, .h = 17, .w = 34, .k = 3, .stride = 1, .pad = 1},
        {.n = 2, .c = 3, .h = 17, .w = 34, .k = 3, .stride = 2, .pad = 1},
        {.n = 2, .c = 3, .h = 8, .w = 9, .k = 3, .stride = 2, .pad = 0},  // last row uncovered
        {.n = 2, .c = 3, .h = 6, .w = 5, .k = 2, .stride = 2, .pad = 0},
        {.n = 1, .c = 4, .h = 9, .w = 11, .k = 5, .stride = 1, .pad = 2},
    };
    for (const Pool2dShape& s : darts_pool2d(n)) out.push_back(s);
    return out;
}

std::vector<SubsampleShape> subsample(int n) {
    std::vector<SubsampleShape> out = {
        {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 2, .offset = 0},
        {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 2, .offset = 1},
        {.n = 2, .c = 3, .h = 17, .w = 34, .stride = 2, .offset = 0},
        {.n = 2, .c = 3, .h = 17, .w = 34, .stride = 2, .offset = 1},
        {.n = 1, .c = 2, .h = 9, .w = 10, .stride = 3, .offset = 2},
        {.n = 3, .c = 5, .h = 7, .w = 7, .stride = 1, .offset = 0},
    };
    for (const DartsPlane& p : kDartsPlanes)
        for (const int offset : {0, 1})
            out.push_back({.n = n, .c = p.c, .h = p.hw, .w = p.hw, .stride = 2, .offset = offset});
    return out;
}

std::vector<ChannelRangeShape> channel_range(int n) {
    return {
        {.n = 3, .c_total = 11, .hw = 49, .c_begin = 0, .c_part = 5},
        {.n = 3, .c_total = 11, .hw = 49, .c_begin = 5, .c_part = 6},
        {.n = 3, .c_total = 11, .hw = 49, .c_begin = 4, .c_part = 1},
        {.n = 5, .c_total = 7, .hw = 1, .c_begin = 2, .c_part = 3},
        {.n = 2, .c_total = 9, .hw = 17 * 34, .c_begin = 3, .c_part = 4},
        {.n = n, .c_total = 64, .hw = 32 * 32, .c_begin = 16, .c_part = 16},
        {.n = n, .c_total = 128, .hw = 16 * 16, .c_begin = 96, .c_part = 32},
        {.n = n, .c_total = 256, .hw = 8 * 8, .c_begin = 0, .c_part = 64},
    };
}

std::vector<BatchNormShape> batch_norm(int n) {
    std::vector<BatchNormShape> out = {
        {.n = 3, .c = 5, .hw = 7 * 7},
        {.n = 2, .c = 3, .hw = 17 * 34},
        {.n = 3, .c = 5, .hw = 1},
        {.n = 2, .c = 7, .hw = 1},
        {.n = std::max(n, 2), .c = 10, .hw = 1},
        {.n = 1, .c = 4, .hw = 2},
        {.n = 3, .c = 6, .hw = 31 * 23},  // 2139 values per channel: uneven cluster ranges
    };
    for (const DartsPlane& p : kDartsPlanes) out.push_back({.n = n, .c = p.c, .hw = p.hw * p.hw});
    return out;
}

}  // namespace cudarts::shapes
