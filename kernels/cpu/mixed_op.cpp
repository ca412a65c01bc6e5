// The DARTS mixed edge, out = sum_k w_k y_k, as reference loops for kernels/mixed_op.h.
// mixed_sum takes the weights; mixed_softmax_sum takes the logits alpha and is literally
// softmax_fwd followed by mixed_sum (and, backward, mixed_sum_bwd followed by softmax_bwd on
// the K weight gradients), so the fused CUDA kernel has an unfused definition to match.
// A null ys[k] is DARTS' `none` candidate: it adds nothing to out and its weight gradient
// <dout, 0> is 0, which is still written so that dw always holds K defined values.
// dw (dalpha) may be null: the tape asks for the candidates' gradients separately.
// Both the K-term sums and the n-term dot products <dout, y_k> accumulate in double; a node's
// edges (mixed_node_fwd) are each rounded to float and added in float, as separate adds would.
// The softmax form needs two K-float temporaries; K is the number of primitives (8 in DARTS),
// so they are small host vectors rather than a workspace argument.
#include "kernels/mixed_op.h"

#include <vector>

#include "kernels/check.h"
#include "kernels/softmax.h"

namespace cudarts::cpu {

namespace {
void check_sizes(int K, int64_t n, const char* fn) {
    CUDARTS_CHECK(K >= 1, fn << ": K=" << K << " (n=" << n << ")");
    CUDARTS_CHECK(n >= 0, fn << ": n=" << n << " (K=" << K << ")");
}
}  // namespace

void mixed_sum_fwd(float* out, const float* const* ys, const float* w, int K, int64_t n) {
    check_sizes(K, n, "mixed_sum_fwd");
    for (int64_t i = 0; i < n; ++i) {
        double s = 0;
        for (int k = 0; k < K; ++k)
            if (ys[k]) s += double(w[k]) * ys[k][i];
        out[i] = float(s);
    }
}

void mixed_node_fwd(float* out, const float* const* ys, const float* w, int K, int run, int64_t n) {
    check_sizes(K, n, "mixed_node_fwd");
    CUDARTS_CHECK(run >= 1 && K % run == 0,
                  "mixed_node_fwd: " << K << " candidates are not edges of " << run);
    for (int64_t i = 0; i < n; ++i) {
        float node = 0.f;
        for (int e = 0; e < K / run; ++e) {
            double s = 0;
            for (int k = e * run; k < (e + 1) * run; ++k)
                if (ys[k]) s += double(w[k]) * ys[k][i];
            node = e == 0 ? float(s) : node + float(s);
        }
        out[i] = node;
    }
}

void mixed_sum_bwd(float* const* dys, float* dw, const float* dout, const float* const* ys,
                   const float* w, int K, int64_t n, GradMode mode) {
    check_sizes(K, n, "mixed_sum_bwd");
    for (int k = 0; k < K; ++k) {
        if (dw) {
            double dot = 0;
            if (ys[k])
                for (int64_t i = 0; i < n; ++i) dot += double(dout[i]) * ys[k][i];
            write_grad(dw[k], float(dot), mode);
        }
        // A `none` candidate has no tensor to receive a gradient, even if a pointer was passed.
        if (ys[k] && dys[k])
            for (int64_t i = 0; i < n; ++i) write_grad(dys[k][i], w[k] * dout[i], mode);
    }
}

void mixed_softmax_sum_fwd(float* out, const float* const* ys, const float* alpha, int K,
                           int64_t n) {
    check_sizes(K, n, "mixed_softmax_sum_fwd");
    std::vector<float> w(K);
    softmax_fwd(w.data(), alpha, 1, K);
    mixed_sum_fwd(out, ys, w.data(), K, n);
}

void mixed_softmax_sum_bwd(float* const* dys, float* dalpha, const float* dout,
                           const float* const* ys, const float* alpha, int K, int64_t n,
                           GradMode mode) {
    check_sizes(K, n, "mixed_softmax_sum_bwd");
    // dw starts at zero, so it holds exactly <dout, y_k> whichever mode dys are written with.
    std::vector<float> w(K), dw(K, 0.f);
    softmax_fwd(w.data(), alpha, 1, K);
    mixed_sum_bwd(dys, dalpha ? dw.data() : nullptr, dout, ys, w.data(), K, n, mode);
    if (dalpha) softmax_bwd(dalpha, dw.data(), w.data(), 1, K, mode);
}

}  // namespace cudarts::cpu
