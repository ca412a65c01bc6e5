// Elementwise reference ops over flat fp32 arrays: one plain loop per function, each the
// definition the CUDA kernels are tested against (formulas in kernels/elementwise.h).
// The activations' backward reads the saved output y: tanh' = 1 - y^2, sigmoid' = y (1 - y),
// and ReLU passes the gradient where y > 0, so its derivative at exactly 0 is 0 as in PyTorch.
// Sigmoid is 1 / (1 + e^-x) as written: for x << 0 the exponential overflows to inf and the
// quotient is exactly 0, which is also what PyTorch returns, so no second branch is needed.
#include "kernels/elementwise.h"

#include <cmath>

#include "kernels/check.h"

namespace cudarts::cpu {

namespace {
void check_count(int64_t n, const char* fn) { CUDARTS_CHECK(n >= 0, fn << ": n=" << n); }
}  // namespace

void relu_fwd(float* y, const float* x, int64_t n) {
    check_count(n, "relu_fwd");
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

void relu_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode) {
    check_count(n, "relu_bwd");
    for (int64_t i = 0; i < n; ++i) write_grad(dx[i], y[i] > 0.f ? dy[i] : 0.f, mode);
}

void tanh_fwd(float* y, const float* x, int64_t n) {
    check_count(n, "tanh_fwd");
    for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void tanh_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode) {
    check_count(n, "tanh_bwd");
    for (int64_t i = 0; i < n; ++i) write_grad(dx[i], dy[i] * (1.f - y[i] * y[i]), mode);
}

void sigmoid_fwd(float* y, const float* x, int64_t n) {
    check_count(n, "sigmoid_fwd");
    for (int64_t i = 0; i < n; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
}

void sigmoid_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode) {
    check_count(n, "sigmoid_bwd");
    for (int64_t i = 0; i < n; ++i) write_grad(dx[i], dy[i] * y[i] * (1.f - y[i]), mode);
}

void add_fwd(float* y, const float* a, const float* b, int64_t n) {
    check_count(n, "add_fwd");
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void mul_fwd(float* y, const float* a, const float* b, int64_t n) {
    check_count(n, "mul_fwd");
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void mul_bwd(float* da, float* db, const float* dy, const float* a, const float* b, int64_t n,
             GradMode mode_a, GradMode mode_b) {
    check_count(n, "mul_bwd");
    // Either side may be unwanted (a constant operand), hence the null checks.
    if (da)
        for (int64_t i = 0; i < n; ++i) write_grad(da[i], dy[i] * b[i], mode_a);
    if (db)
        for (int64_t i = 0; i < n; ++i) write_grad(db[i], dy[i] * a[i], mode_b);
}

void scale_fwd(float* y, const float* x, float alpha, int64_t n) {
    check_count(n, "scale_fwd");
    for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
}

void scale_bwd(float* dx, const float* dy, float alpha, int64_t n, GradMode mode) {
    check_count(n, "scale_bwd");
    for (int64_t i = 0; i < n; ++i) write_grad(dx[i], alpha * dy[i], mode);
}

void axpy(float* y, float alpha, const float* x, int64_t n) {
    check_count(n, "axpy");
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void copy(float* y, const float* x, int64_t n, GradMode mode) {
    check_count(n, "copy");
    for (int64_t i = 0; i < n; ++i) write_grad(y[i], x[i], mode);
}

void fill(float* y, float value, int64_t n) {
    check_count(n, "fill");
    for (int64_t i = 0; i < n; ++i) y[i] = value;
}

}  // namespace cudarts::cpu
