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

// softmax of the 5 logits, the maximum subtracted first (as cpu::softmax_fwd).
std::array<float, kRnnEdgeLogits> edge_weights(const float* alpha) {
    float m = alpha[0];
    for (int k = 1; k < kRnnEdgeLogits; ++k) m = alpha[k] > m ? alpha[k] : m;
    std::array<float, kRnnEdgeLogits> p{};
    float sum = 0.f;
    for (int k = 0; k < kRnnEdgeLogits; ++k) sum += p[size_t(k)] = expf(alpha[k] - m);
    for (float& v : p) v /= sum;
    return p;
}

// One element's mixed update and its local derivatives: out, and for the backward
// F - P s (the c gate's factor), sum p_k f_k'(h) and P.
struct MixTerms {
    float out, gate_factor, slope, weight_sum;
    std::array<float, kActs> y;  // y_k = s + c (f_k(h) - s)
};
MixTerms mix_terms(const std::array<float, kRnnEdgeLogits>& p, float c, float h, float s) {
    MixTerms t{0.f, 0.f, 0.f, 0.f, {}};
    for (int k = 0; k < kActs; ++k) {
        const RnnAct a = RnnAct(k);
        const float pk = p[size_t(k + 1)], f = rnn_act(a, h);
        t.y[size_t(k)] = s + c * (f - s);
        t.out += pk * t.y[size_t(k)];
        t.gate_factor += pk * (f - s);
        t.slope += pk * rnn_act_slope(a, h, f);
        t.weight_sum += pk;
    }
    return t;
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
            out[i] = mix_terms(p, rnn_sigmoid(ch[r * 2 * n + j]), ch[r * 2 * n + n + j], s[i]).out;
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
            const MixTerms t = mix_terms(p, c, ch[ih], s[i]);
            if (g.dch) {
                write_grad(g.dch[ic], d * t.gate_factor * c * (1.f - c), g.ch_mode);
                write_grad(g.dch[ih], d * c * t.slope, g.ch_mode);
            }
            if (g.ds) write_grad(g.ds[i], d * t.weight_sum * (1.f - c), g.s_mode);
            if (dalpha)
                for (int k = 0; k < kActs; ++k)
                    dots[size_t(k)] += double(d) * double(t.y[size_t(k)]);
        }
    if (!dalpha) return;
    double mean = 0;  // sum_k p_k g_k
    for (int k = 0; k < kActs; ++k) mean += double(p[size_t(k + 1)]) * dots[size_t(k)];
    for (int j = 0; j < kRnnEdgeLogits; ++j) {
        const double gj = j == 0 ? 0.0 : dots[size_t(j - 1)];
        write_grad(dalpha[j], float(double(p[size_t(j)]) * (gj - mean)), alpha_mode);
    }
}

}  // namespace cudarts::cpu
