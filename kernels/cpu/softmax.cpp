// Row-wise softmax, log-softmax and the classification losses over a (rows, cols) matrix: the
// reference loops for kernels/softmax.h. Every row subtracts its maximum before exponentiating,
// so logits of 1e4 stay finite; exponentials and row sums are taken in double and rounded to
// float once, so these outputs are as exact as fp32 allows and CUDA is compared against them.
// Semantics follow PyTorch: softmax/log_softmax along dim 1, NLLLoss and CrossEntropyLoss with
// mean reduction, label smoothing as DARTS ImageNet's CrossEntropyLabelSmooth
// (t = (1 - e) onehot + e / K). A label outside [0, cols) throws cudarts::Error naming the row:
// the data loader produced it, so it is a bug, not user input.
// count_correct ranks the label's logit: the number of classes that beat it, where class j beats
// the label l if x_j > x_l, or x_j == x_l and j < l (ties go to the lower index, like the first
// maximum torch.argmax returns). The row is correct for top-k when fewer than k classes beat l
// and every logit in it is finite: NaN compares false, so a diverged row would otherwise be
// beaten by no class and count as correct.
#include "kernels/softmax.h"

#include <cmath>

#include "kernels/check.h"

namespace cudarts::cpu {

namespace {

void check_matrix(int rows, int cols, const char* fn) {
    CUDARTS_CHECK(rows >= 0, fn << ": rows=" << rows << " (cols=" << cols << ")");
    CUDARTS_CHECK(cols >= 1, fn << ": cols=" << cols << " (rows=" << rows << ")");
}

void check_labels(const int32_t* labels, int rows, int cols, const char* fn) {
    for (int r = 0; r < rows; ++r)
        CUDARTS_CHECK(labels[r] >= 0 && labels[r] < cols, fn << ": row " << r << " has label "
                                                             << labels[r] << ", outside [0, "
                                                             << cols << ")");
}

void check_smoothing(float smoothing, const char* fn) {
    CUDARTS_CHECK(smoothing >= 0.f && smoothing <= 1.f,
                  fn << ": smoothing=" << smoothing << ", expected in [0, 1]");
}

float row_max(const float* x, int cols) {
    float m = x[0];
    for (int j = 1; j < cols; ++j)
        if (x[j] > m) m = x[j];
    return m;
}

// sum_j exp(x_j - m), the denominator shared by softmax and log_softmax.
double sum_exp(const float* x, int cols, float m) {
    double s = 0;
    for (int j = 0; j < cols; ++j) s += std::exp(double(x[j]) - m);
    return s;
}

// f(xr, yr, m, s) for every row: its input xr and output yr, its maximum m and s = sum_j
// exp(x_j - m), what softmax and log_softmax both start from.
template <class F>
void for_each_row_exp_sum(float* y, const float* x, int rows, int cols, const F& f) {
    for (int r = 0; r < rows; ++r) {
        const float* xr = x + int64_t(r) * cols;
        const float m = row_max(xr, cols);
        f(xr, y + int64_t(r) * cols, m, sum_exp(xr, cols, m));
    }
}

// The smoothed target of class k for a row labelled `label`.
double target(int k, int label, int cols, float smoothing) {
    return (k == label ? 1.0 - smoothing : 0.0) + double(smoothing) / cols;
}

}  // namespace

void softmax_fwd(float* y, const float* x, int rows, int cols) {
    check_matrix(rows, cols, "softmax_fwd");
    for_each_row_exp_sum(y, x, rows, cols, [&](const float* xr, float* yr, float m, double s) {
        for (int j = 0; j < cols; ++j) yr[j] = float(std::exp(double(xr[j]) - m) / s);
    });
}

void softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols, GradMode mode) {
    check_matrix(rows, cols, "softmax_bwd");
    for (int r = 0; r < rows; ++r) {
        const int64_t o = int64_t(r) * cols;
        double dot = 0;  // <dy, y>: the part of dy that only rescales the row
        for (int j = 0; j < cols; ++j) dot += double(dy[o + j]) * y[o + j];
        for (int j = 0; j < cols; ++j)
            write_grad(dx[o + j], float(y[o + j] * (dy[o + j] - dot)), mode);
    }
}

void log_softmax_fwd(float* y, const float* x, int rows, int cols) {
    check_matrix(rows, cols, "log_softmax_fwd");
    for_each_row_exp_sum(y, x, rows, cols, [&](const float* xr, float* yr, float m, double s) {
        const double log_s = std::log(s);
        for (int j = 0; j < cols; ++j) yr[j] = float(double(xr[j]) - m - log_s);
    });
}

void log_softmax_bwd(float* dx, const float* dy, const float* y, int rows, int cols,
                     GradMode mode) {
    check_matrix(rows, cols, "log_softmax_bwd");
    for (int r = 0; r < rows; ++r) {
        const int64_t o = int64_t(r) * cols;
        double sum_dy = 0;
        for (int j = 0; j < cols; ++j) sum_dy += dy[o + j];
        // softmax(x) = exp(y): the saved output is enough, x is not needed.
        for (int j = 0; j < cols; ++j)
            write_grad(dx[o + j], float(dy[o + j] - std::exp(double(y[o + j])) * sum_dy), mode);
    }
}

float nll_loss_fwd(const float* logp, const int32_t* labels, int rows, int cols) {
    check_matrix(rows, cols, "nll_loss_fwd");
    check_labels(labels, rows, cols, "nll_loss_fwd");
    if (rows == 0) return 0.f;  // an empty batch contributes nothing rather than 0/0
    double s = 0;
    for (int r = 0; r < rows; ++r) s -= logp[int64_t(r) * cols + labels[r]];
    return float(s / rows);
}

void nll_loss_bwd(float* dlogp, float dloss, const int32_t* labels, int rows, int cols,
                  GradMode mode) {
    check_matrix(rows, cols, "nll_loss_bwd");
    check_labels(labels, rows, cols, "nll_loss_bwd");
    const float g = float(-double(dloss) / rows);
    for (int r = 0; r < rows; ++r)
        for (int j = 0; j < cols; ++j)
            write_grad(dlogp[int64_t(r) * cols + j], j == labels[r] ? g : 0.f, mode);
}

float cross_entropy_fwd(float* logp, const float* logits, const int32_t* labels, int rows, int cols,
                        float smoothing) {
    check_matrix(rows, cols, "cross_entropy_fwd");
    check_labels(labels, rows, cols, "cross_entropy_fwd");
    check_smoothing(smoothing, "cross_entropy_fwd");
    log_softmax_fwd(logp, logits, rows, cols);
    if (rows == 0) return 0.f;
    double s = 0;
    for (int r = 0; r < rows; ++r)
        for (int k = 0; k < cols; ++k)
            s -= target(k, labels[r], cols, smoothing) * logp[int64_t(r) * cols + k];
    return float(s / rows);
}

void cross_entropy_bwd(float* dlogits, float dloss, const float* logp, const int32_t* labels,
                       int rows, int cols, float smoothing, GradMode mode) {
    check_matrix(rows, cols, "cross_entropy_bwd");
    check_labels(labels, rows, cols, "cross_entropy_bwd");
    check_smoothing(smoothing, "cross_entropy_bwd");
    const double g = double(dloss) / rows;
    for (int r = 0; r < rows; ++r)
        for (int k = 0; k < cols; ++k) {
            const int64_t i = int64_t(r) * cols + k;
            const double p = std::exp(double(logp[i]));
            write_grad(dlogits[i], float(g * (p - target(k, labels[r], cols, smoothing))), mode);
        }
}

int64_t count_correct(const float* logits, const int32_t* labels, int rows, int cols, int topk) {
    check_matrix(rows, cols, "count_correct");
    check_labels(labels, rows, cols, "count_correct");
    CUDARTS_CHECK(topk >= 1,
                  "count_correct: topk=" << topk << " (rows=" << rows << " cols=" << cols << ")");
    int64_t correct = 0;
    for (int r = 0; r < rows; ++r) {
        const float* xr = logits + int64_t(r) * cols;
        const int l = labels[r];
        int beaten_by = 0;
        bool finite = true;
        for (int j = 0; j < cols; ++j) {
            finite = finite && std::isfinite(xr[j]);
            if (xr[j] > xr[l] || (xr[j] == xr[l] && j < l)) ++beaten_by;
        }
        if (finite && beaten_by < topk) ++correct;
    }
    return correct;
}

}  // namespace cudarts::cpu
