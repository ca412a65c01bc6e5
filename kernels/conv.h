// 2-D convolution, NCHW fp32, no bias (no DARTS convolution has one).
//   y[n,o,i,j] = sum_{c in group(o), a, b} w[o, c - g0, a, b] * x[n, c, i*s - p + a*d, j*s - p +
//   b*d]
// with taps outside the image reading zero. Groups split input and output channels into `groups`
// equal blocks; groups == c_in == c_out is the depthwise convolution of SepConv and DilConv.
// Backward (fprop/dgrad/wgrad vocabulary): dx is the transposed convolution of dy with w
// (`_bwd_data`), dw the correlation of dy with x (`_bwd_weight`).
// Layout: x (n, c_in, h, w), w (c_out, c_in/groups, k, k), y (n, c_out, ho, wo).
// Matches torch.nn.Conv2d(bias=False) with square kernel, stride, padding and dilation.
// Unsupported: non-square kernels or strides (DARTS needs none; conv_7x1_1x7 is not searched).
#pragma once

#include <cstddef>
#include <ostream>
#include <span>

#include "kernels/common.h"

namespace cudarts {

struct Conv2dShape {
    int n, c_in, h, w;  // input, NCHW
    int c_out;          // output channels
    int k;              // square kernel
    int stride = 1, pad = 0, dil = 1, groups = 1;

    CUDARTS_HD int ho() const { return (h + 2 * pad - dil * (k - 1) - 1) / stride + 1; }
    CUDARTS_HD int wo() const { return (w + 2 * pad - dil * (k - 1) - 1) / stride + 1; }
    CUDARTS_HD int cin_per_group() const { return c_in / groups; }
    CUDARTS_HD int cout_per_group() const { return c_out / groups; }
    // One group per channel, as many outputs as inputs: the depthwise convolution of SepConv and
    // DilConv.
    CUDARTS_HD bool is_depthwise() const { return groups == c_in && c_in == c_out; }
    // Every output channel reads exactly one input channel: depthwise, or depthwise with each
    // input channel feeding c_out / c_in outputs.
    CUDARTS_HD bool is_channelwise() const { return cin_per_group() == 1 && groups > 1; }
    // A 1x1 convolution that is one matrix product per sample: stride 1, no padding, one group.
    CUDARTS_HD bool is_pointwise() const {
        return k == 1 && stride == 1 && pad == 0 && groups == 1;
    }
    // The output index whose tap a lands on input position p along one axis, or -1 when there is
    // none: p = i*stride - pad + a*dil must hold with i whole and in [0, n_out).
    CUDARTS_HD int source_index(int p, int a, int n_out) const {
        const int t = p + pad - a * dil;
        if (t < 0 || t % stride != 0) return -1;
        const int i = t / stride;
        return i < n_out ? i : -1;
    }
    // f(a, b, p, q) for every tap (a, b) of output (i, j) that lands inside the image, at input
    // (p, q) = (i*stride - pad + a*dil, j*stride - pad + b*dil); padding taps are skipped.
    template <class F>
    CUDARTS_HD void for_each_tap(int i, int j, const F& f) const {
        for (int a = 0; a < k; ++a) {
            const int p = i * stride - pad + a * dil;
            if (p < 0 || p >= h) continue;
            for (int b = 0; b < k; ++b) {
                const int q = j * stride - pad + b * dil;
                if (q < 0 || q >= w) continue;
                f(a, b, p, q);
            }
        }
    }
    // f(a, b, i, j) for every output (i, j) whose tap (a, b) reads input (p, q) (source_index).
    template <class F>
    CUDARTS_HD void for_each_source(int p, int q, const F& f) const {
        const int n_h = ho(), n_w = wo();
        for (int a = 0; a < k; ++a) {
            const int i = source_index(p, a, n_h);
            if (i < 0) continue;
            for (int b = 0; b < k; ++b) {
                const int j = source_index(q, b, n_w);
                if (j >= 0) f(a, b, i, j);
            }
        }
    }
    int64_t in_elems() const { return int64_t(n) * c_in * h * w; }
    int64_t out_elems() const { return int64_t(n) * c_out * ho() * wo(); }
    int64_t weight_elems() const { return int64_t(c_out) * cin_per_group() * k * k; }
    double flops_fwd() const { return 2.0 * out_elems() * cin_per_group() * k * k; }
    void validate() const;  // throws Error naming the offending field
};
std::ostream& operator<<(std::ostream& os, const Conv2dShape& s);

// One convolution of a group: several of one shape, each with its own tensors, computed together
// (conv2d_group_*; on CUDA one launch for up to kConvGroupChunk of them where the shape's kernel
// is one of ours, a call each where it is cuBLAS's). Every pointer means what it means in the
// single calls below. The items of one call run at once on CUDA, so no two may write the same
// output (y or dw); the input gradient's items may share dx (ConvDataGradItem).
struct ConvFwdItem {
    float* y;
    const float* x;
    const float* w;
};
// Items of one dx (the convs that read one input) are summed in item order, each under its own
// mode, as the single calls in sequence would: the same bits. Distinct dx must not overlap.
struct ConvDataGradItem {
    float* dx;
    const float* dy;
    const float* w;
    GradMode mode;
};
struct ConvWeightGradItem {
    float* dw;
    const float* dy;
    const float* x;
    GradMode mode;
};

namespace cpu {
void conv2d_fwd(float* y, const float* x, const float* w, const Conv2dShape& s);
void conv2d_bwd_data(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                     GradMode mode);
void conv2d_bwd_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                       GradMode mode);
// The group forms: the single calls, item by item.
void conv2d_group_fwd(std::span<const ConvFwdItem> items, const Conv2dShape& s);
void conv2d_group_bwd_data(std::span<const ConvDataGradItem> items, const Conv2dShape& s);
void conv2d_group_bwd_weight(std::span<const ConvWeightGradItem> items, const Conv2dShape& s);
}  // namespace cpu

namespace cuda {
// The launchers pick cuBLAS for the 1x1, stride 1, pad 0, single-group convolution (its weight
// gradient: the one-kernel v3), the tiled v2 kernels for depthwise shapes they support, and the
// direct v1 kernels otherwise.
void conv2d_fwd(float* y, const float* x, const float* w, const Conv2dShape& s, Stream st);
void conv2d_bwd_data(float* dx, const float* dy, const float* w, const Conv2dShape& s,
                     GradMode mode, Stream st);
void conv2d_bwd_weight(float* dw, const float* dy, const float* x, const Conv2dShape& s,
                       GradMode mode, Stream st);
// The group forms, with the single launchers' version choice; each item gets the bits of its own
// call. The single calls are groups of one.
inline constexpr int kConvGroupChunk = 16;
void conv2d_group_fwd(std::span<const ConvFwdItem> items, const Conv2dShape& s, Stream st);
void conv2d_group_bwd_data(std::span<const ConvDataGradItem> items, const Conv2dShape& s,
                           Stream st);
void conv2d_group_bwd_weight(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                             Stream st);

// Every implementation of each direction, so tests check them all against cpu:: and the
// benchmark times them side by side (names "v1", "v2", "cublas", and the 1x1 kernels of our own:
// "pw" forward and input gradient, "v3" weight gradient; see kernels/cuda/conv_*.cu).
// `supports` takes a valid shape; `launch` has the launcher's contract and throws on a shape its
// version does not support.
struct Conv2dFwdVersion {
    const char* name;
    bool (*supports)(const Conv2dShape& s);
    void (*launch)(float* y, const float* x, const float* w, const Conv2dShape& s, Stream st);
    void (*launch_group)(std::span<const ConvFwdItem> items, const Conv2dShape& s, Stream st);
};
struct Conv2dBwdDataVersion {
    const char* name;
    bool (*supports)(const Conv2dShape& s);
    void (*launch)(float* dx, const float* dy, const float* w, const Conv2dShape& s, GradMode mode,
                   Stream st);
    void (*launch_group)(std::span<const ConvDataGradItem> items, const Conv2dShape& s, Stream st);
};
struct Conv2dBwdWeightVersion {
    const char* name;
    bool (*supports)(const Conv2dShape& s);
    void (*launch)(float* dw, const float* dy, const float* x, const Conv2dShape& s, GradMode mode,
                   Stream st);
    void (*launch_group)(std::span<const ConvWeightGradItem> items, const Conv2dShape& s,
                         Stream st);
};
// The version a launcher runs: the last of `versions` that supports s. Each table lists its
// versions from the most general (v1, any shape) to the most specialised, so this is v2 for the
// depthwise shapes it takes, else v1, and for pointwise shapes our own kernel after cuBLAS: "pw"
// forward and input gradient (a launch per chunk of a group where cuBLAS makes a call per item;
// cuBLAS past pw's widths), and the weight gradient's v3 (one launch where cublas makes n).
template <class Version>
const Version& preferred_version(std::span<const Version> versions, const Conv2dShape& s) {
    for (size_t i = versions.size() - 1; i > 0; --i)
        if (versions[i].supports(s)) return versions[i];
    return versions[0];
}
std::span<const Conv2dFwdVersion> conv2d_fwd_versions();
std::span<const Conv2dBwdDataVersion> conv2d_bwd_data_versions();
std::span<const Conv2dBwdWeightVersion> conv2d_bwd_weight_versions();
}  // namespace cuda

}  // namespace cudarts
