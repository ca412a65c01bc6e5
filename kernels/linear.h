// Dense layers, row-major fp32, GEMMs through Eigen on the CPU (cuBLAS on the GPU, issue #4).
//   linear:  y = x W^T + b     x (rows, in), W (out, in) as torch.nn.Linear, b (out) or null
//            dx = dy W,  dW = dy^T x,  db = sum over rows of dy
//   matmul:  C = A B          A (m, k), B (k, n), C (m, n)   (the recurrent cells' [x|h] W)
//            dA = dC B^T,  dB = A^T dC
// Any gradient output may be null (not wanted).
#pragma once

#include <ostream>

#include "kernels/common.h"

namespace cudarts {

struct LinearShape {
    int rows, in, out;
    double flops_fwd() const { return 2.0 * rows * in * out; }
};
struct MatmulShape {
    int m, k, n;
    double flops_fwd() const { return 2.0 * m * k * n; }
};
std::ostream& operator<<(std::ostream& os, const LinearShape& s);
std::ostream& operator<<(std::ostream& os, const MatmulShape& s);

namespace cpu {
void linear_fwd(float* y, const float* x, const float* w, const float* b, const LinearShape& s);
void linear_bwd_data(float* dx, const float* dy, const float* w, const LinearShape& s,
                     GradMode mode);
void linear_bwd_weight(float* dw, float* db, const float* dy, const float* x, const LinearShape& s,
                       GradMode mode);

void matmul_fwd(float* c, const float* a, const float* b, const MatmulShape& s);
void matmul_bwd(float* da, float* db, const float* dc, const float* a, const float* b,
                const MatmulShape& s, GradMode mode_a, GradMode mode_b);
}  // namespace cpu

namespace cuda {
// cuBLAS GEMMs (FP32 unless cuda::set_tf32(true), kernels/cuda/blas.h) plus small deterministic
// kernels for the bias add and the bias gradient.
void linear_fwd(float* y, const float* x, const float* w, const float* b, const LinearShape& s,
                Stream st);
void linear_bwd_data(float* dx, const float* dy, const float* w, const LinearShape& s,
                     GradMode mode, Stream st);
void linear_bwd_weight(float* dw, float* db, const float* dy, const float* x, const LinearShape& s,
                       GradMode mode, Stream st);

void matmul_fwd(float* c, const float* a, const float* b, const MatmulShape& s, Stream st);
void matmul_bwd(float* da, float* db, const float* dc, const float* a, const float* b,
                const MatmulShape& s, GradMode mode_a, GradMode mode_b, Stream st);
}  // namespace cuda

}  // namespace cudarts
