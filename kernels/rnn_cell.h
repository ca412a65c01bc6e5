// The recurrent DARTS cell's highway update (reference/darts.md 7.1), fused: everything a node does
// after its matrix product, in one pass forward and one backward.
//
// A node reads a state s (rows x n) and its gate pre-activations ch = (s * h_mask) W (rows x 2n,
// row-major; computed by the caller's matmul), c = sigmoid(ch[:, :n]), h = ch[:, n:], and writes
//   highway:      out = s + c * (act(h) - s)                       (an evaluation node, and s0)
//   highway_mix:  out = sum_{k=1..4} p_k (s + c * (f_k(h) - s)),   p = softmax(alpha)
// where alpha holds the 5 logits of one search edge in the order none, tanh, relu, sigmoid,
// identity (kRnnPrimitives); `none` contributes nothing. Gradients, with y_k = s + c (f_k(h) - s),
// P = sum_{k>=1} p_k and F = sum_{k>=1} p_k f_k(h) (highway: P = 1, F = act(h)):
//   d ch[:, :n] = dout * (F - P s) * c (1 - c)
//   d ch[:, n:] = dout * c * sum_{k>=1} p_k f_k'(h)
//   d s         = dout * P (1 - c)
//   d alpha_j   = p_j (g_j - sum_k p_k g_k), g_k = <dout, y_k> (g_0 = 0: `none`)
// with tanh' = 1 - tanh^2, relu' = [h > 0], sigmoid' = sigmoid (1 - sigmoid), identity' = 1.
// dch, ds and dalpha may each be null (not wanted); each has its own write mode.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace cudarts {

enum class RnnAct : int { kTanh = 0, kRelu = 1, kSigmoid = 2, kIdentity = 3 };
inline constexpr int kRnnEdgeLogits = 5;  // none, tanh, relu, sigmoid, identity

// The per-element math both backends share (host and device alike).
CUDARTS_HD inline float rnn_sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
CUDARTS_HD inline float rnn_act(RnnAct a, float h) {
    switch (a) {
        case RnnAct::kTanh:
            return tanhf(h);
        case RnnAct::kRelu:
            return h > 0.f ? h : 0.f;
        case RnnAct::kSigmoid:
            return rnn_sigmoid(h);
        default:
            return h;
    }
}
// act'(h), given y = act(h).
CUDARTS_HD inline float rnn_act_slope(RnnAct a, float h, float y) {
    switch (a) {
        case RnnAct::kTanh:
            return 1.f - y * y;
        case RnnAct::kRelu:
            return h > 0.f ? 1.f : 0.f;
        case RnnAct::kSigmoid:
            return y * (1.f - y);
        default:
            return 1.f;
    }
}

struct HighwayGrads {
    float* dch = nullptr;
    float* ds = nullptr;
    GradMode ch_mode = GradMode::kOverwrite, s_mode = GradMode::kOverwrite;
};

}  // namespace cudarts

namespace cudarts::cpu {

void highway_fwd(float* out, const float* ch, const float* s, int64_t rows, int64_t n, RnnAct act);
void highway_bwd(const HighwayGrads& g, const float* dout, const float* ch, const float* s,
                 int64_t rows, int64_t n, RnnAct act);

void highway_mix_fwd(float* out, const float* ch, const float* s, const float* alpha, int64_t rows,
                     int64_t n);
// dalpha (5 floats) is summed in double over all rows * n elements.
void highway_mix_bwd(const HighwayGrads& g, float* dalpha, GradMode alpha_mode, const float* dout,
                     const float* ch, const float* s, const float* alpha, int64_t rows, int64_t n);

}  // namespace cudarts::cpu

// The same on a CUDA device (kernels/cuda/rnn_cell.cu); every pointer is a device pointer.
namespace cudarts::cuda {

void highway_fwd(float* out, const float* ch, const float* s, int64_t rows, int64_t n, RnnAct act,
                 Stream st);
void highway_bwd(const HighwayGrads& g, const float* dout, const float* ch, const float* s,
                 int64_t rows, int64_t n, RnnAct act, Stream st);

void highway_mix_fwd(float* out, const float* ch, const float* s, const float* alpha, int64_t rows,
                     int64_t n, Stream st);
void highway_mix_bwd(const HighwayGrads& g, float* dalpha, GradMode alpha_mode, const float* dout,
                     const float* ch, const float* s, const float* alpha, int64_t rows, int64_t n,
                     Stream st);

}  // namespace cudarts::cuda
