// The recurrent cell's highway update as reference loops for kernels/rnn_cell.h. Per element the
// sums over the 4 activations run in float, in the order tanh, relu, sigmoid, identity, exactly as
// the CUDA kernels do; the alpha gradient's dot products over all elements accumulate in double.
#include "kernels/rnn_cell.h"

#include <array>

#include "kernels/check.h"
#include "kernels/cpu/parallel.h"

namespace cudarts::cpu {

namespace {

constexpr int kActs = kRnnEdgeLogits - 1;

void check_sizes(int64_t rows, int64_t n, const char* fn) {
    CUDARTS_CHECK(rows >= 0 && n >= 1, fn << ": rows=" << rows << " n=" << n);
}

std::array<float, kRnnEdgeLogits> edge_weights(const float* alpha) {
    std::array<float, kRnnEdgeLogits> p{};
    rnn_edge_weights(p.data(), alpha);
    return p;
}

}  // namespace

void highway_fwd(float* out, const float* ch, const float* s, int64_t rows, int64_t n, RnnAct act) {
    check_sizes(rows, n, "highway_fwd");
    CUDARTS_PARALLEL_FOR(rows * n)
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = r * n + j;
            const float c = rnn_sigmoid(ch[r * 2 * n + j]);
            out[i] = s[i] + c * (rnn_act(act, ch[r * 2 * n + n + j]) - s[i]);
        }
}

void highway_bwd(const HighwayGrads& g, const float* dout, const float* ch, const float* s,
                 int64_t rows, int64_t n, RnnAct act) {
    check_sizes(rows, n, "highway_bwd");
    CUDARTS_PARALLEL_FOR(rows * n)
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = r * n + j, ic = r * 2 * n + j, ih = ic + n;
            const float c = rnn_sigmoid(ch[ic]), h = ch[ih], f = rnn_act(act, h), d = dout[i];
            if (g.dch) {
                write_grad(g.dch[ic], d * (f - s[i]) * c * (1.f - c), g.ch_mode);
                write_grad(g.dch[ih], d * c * rnn_act_slope(act, h, f), g.ch_mode);
            }
            if (g.ds) write_grad(g.ds[i], d * (1.f - c), g.s_mode);
        }
}

void highway_mix_fwd(float* out, const float* ch, const float* s, const float* alpha, int64_t rows,
                     int64_t n) {
    check_sizes(rows, n, "highway_mix_fwd");
    const std::array<float, kRnnEdgeLogits> p = edge_weights(alpha);
    CUDARTS_PARALLEL_FOR(rows * n)
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = r * n + j;
            out[i] =
                rnn_mix_terms(p.data(), rnn_sigmoid(ch[r * 2 * n + j]), ch[r * 2 * n + n + j], s[i])
                    .out;
        }
}

void highway_mix_bwd(const HighwayGrads& g, float* dalpha, GradMode alpha_mode, const float* dout,
                     const float* ch, const float* s, const float* alpha, int64_t rows, int64_t n) {
    check_sizes(rows, n, "highway_mix_bwd");
    const std::array<float, kRnnEdgeLogits> p = edge_weights(alpha);
    std::array<double, kActs> dots{};  // g_k = <dout, y_k>
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t i = r * n + j, ic = r * 2 * n + j, ih = ic + n;
            const float c = rnn_sigmoid(ch[ic]), d = dout[i];
            const RnnMixTerms t = rnn_mix_terms(p.data(), c, ch[ih], s[i]);
            if (g.dch) {
                write_grad(g.dch[ic], d * t.gate_factor * c * (1.f - c), g.ch_mode);
                write_grad(g.dch[ih], d * c * t.slope, g.ch_mode);
            }
            if (g.ds) write_grad(g.ds[i], d * t.weight_sum * (1.f - c), g.s_mode);
            if (dalpha)
                for (int k = 0; k < kActs; ++k)
                    dots[size_t(k)] += double(d) * double(t.y[size_t(k)]);
        }
    if (dalpha) rnn_edge_logit_grads(dalpha, alpha_mode, p.data(), dots.data());
}

}  // namespace cudarts::cpu
