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

// softmax of a search edge's 5 logits into p, the maximum subtracted first (as cpu::softmax_fwd).
CUDARTS_HD inline void rnn_edge_weights(float* p, const float* alpha) {
    float m = alpha[0];
    for (int k = 1; k < kRnnEdgeLogits; ++k) m = alpha[k] > m ? alpha[k] : m;
    float sum = 0.f;
    for (int k = 0; k < kRnnEdgeLogits; ++k) sum += p[k] = expf(alpha[k] - m);
    for (int k = 0; k < kRnnEdgeLogits; ++k) p[k] /= sum;
}

// One element of a search edge, from its weights p, gate c = sigmoid(.), pre-activation h and
// state s: the mixed output, F - P s (the gate's factor), sum p_k f_k'(h), P, and every y_k. The
// sums run in float over tanh, relu, sigmoid, identity, in that order, on both backends.
struct RnnMixTerms {
    float out, gate_factor, slope, weight_sum;
    float y[kRnnEdgeLogits - 1];
};
CUDARTS_HD inline RnnMixTerms rnn_mix_terms(const float* p, float c, float h, float s) {
    RnnMixTerms t{0.f, 0.f, 0.f, 0.f, {}};
    for (int k = 0; k < kRnnEdgeLogits - 1; ++k) {
        const RnnAct a = RnnAct(k);
        const float pk = p[k + 1], f = rnn_act(a, h);
        t.y[k] = s + c * (f - s);
        t.out += pk * t.y[k];
        t.gate_factor += pk * (f - s);
        t.slope += pk * rnn_act_slope(a, h, f);
        t.weight_sum += pk;
    }
    return t;
}

// dalpha_j = p_j (g_j - sum_k p_k g_k) from the activations' dot products g_k = dots[k - 1]
// (g_0 = 0: `none`), computed in T (double on the CPU, float on a GPU).
template <class T>
CUDARTS_HD inline void rnn_edge_logit_grads(float* dalpha, GradMode mode, const float* p,
                                            const T* dots) {
    T mean = 0;
    for (int k = 1; k < kRnnEdgeLogits; ++k) mean += T(p[k]) * dots[k - 1];
    for (int j = 0; j < kRnnEdgeLogits; ++j)
        write_grad(dalpha[j], float(T(p[j]) * ((j == 0 ? T(0) : dots[j - 1]) - mean)), mode);
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
