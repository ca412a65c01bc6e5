// Reference dense layers, row-major fp32 (formulas in kernels/linear.h). Every product is an
// Eigen GEMM over the caller's buffers, mapped in place as row-major matrices, so the same bytes
// are read as torch.nn.Linear's x (rows, in) and W (out, in) without copies:
//   linear  y = x W^T + b,  dx = dy W,  dW = dy^T x,  db = column sums of dy
//   matmul  C = A B,        dA = dC B^T,  dB = A^T dC
// db is a plain loop with a double sum per column. A null gradient output is skipped. noalias()
// tells Eigen the output overlaps no operand, so the GEMM writes (or adds, for kAccumulate)
// straight into it instead of into a temporary.
#include "kernels/linear.h"

#include <Eigen/Core>

#include "kernels/check.h"

namespace cudarts {

std::ostream& operator<<(std::ostream& os, const LinearShape& s) {
    return os << "LinearShape{rows=" << s.rows << " in=" << s.in << " out=" << s.out << "}";
}

std::ostream& operator<<(std::ostream& os, const MatmulShape& s) {
    return os << "MatmulShape{m=" << s.m << " k=" << s.k << " n=" << s.n << "}";
}

namespace cpu {

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<RowMajor>;
using ConstMatMap = Eigen::Map<const RowMajor>;

// The shapes carry no validate(): a negative dimension is the only thing that can be wrong.
void check_shape(const LinearShape& s) {
    CUDARTS_CHECK(s.rows >= 0 && s.in >= 0 && s.out >= 0, "negative dimension in " << s);
}
void check_shape(const MatmulShape& s) {
    CUDARTS_CHECK(s.m >= 0 && s.k >= 0 && s.n >= 0, "negative dimension in " << s);
}

// dst = product or dst += product; Eigen gives a zero-inner-dimension product as zeros, so an
// empty batch still overwrites.
template <class Product>
void write_product(MatMap dst, const Product& product, GradMode mode) {
    if (mode == GradMode::kOverwrite)
        dst.noalias() = product;
    else
        dst.noalias() += product;
}

}  // namespace

void linear_fwd(float* y, const float* x, const float* w, const float* b, const LinearShape& s) {
    check_shape(s);
    MatMap ym(y, s.rows, s.out);
    ym.noalias() = ConstMatMap(x, s.rows, s.in) * ConstMatMap(w, s.out, s.in).transpose();
    if (b != nullptr)
        for (int r = 0; r < s.rows; ++r)
            for (int o = 0; o < s.out; ++o) ym(r, o) += b[o];
}

void linear_bwd_data(float* dx, const float* dy, const float* w, const LinearShape& s,
                     GradMode mode) {
    check_shape(s);
    if (dx == nullptr) return;
    write_product(MatMap(dx, s.rows, s.in),
                  ConstMatMap(dy, s.rows, s.out) * ConstMatMap(w, s.out, s.in), mode);
}

void linear_bwd_weight(float* dw, float* db, const float* dy, const float* x, const LinearShape& s,
                       GradMode mode) {
    check_shape(s);
    if (dw != nullptr)
        write_product(MatMap(dw, s.out, s.in),
                      ConstMatMap(dy, s.rows, s.out).transpose() * ConstMatMap(x, s.rows, s.in),
                      mode);
    if (db != nullptr)
        for (int o = 0; o < s.out; ++o) {
            double acc = 0;
            for (int r = 0; r < s.rows; ++r) acc += dy[int64_t(r) * s.out + o];
            write_grad(db[o], float(acc), mode);
        }
}

void matmul_fwd(float* c, const float* a, const float* b, const MatmulShape& s) {
    check_shape(s);
    MatMap(c, s.m, s.n).noalias() = ConstMatMap(a, s.m, s.k) * ConstMatMap(b, s.k, s.n);
}

void matmul_bwd(float* da, float* db, const float* dc, const float* a, const float* b,
                const MatmulShape& s, GradMode mode_a, GradMode mode_b) {
    check_shape(s);
    const ConstMatMap dcm(dc, s.m, s.n);
    if (da != nullptr)
        write_product(MatMap(da, s.m, s.k), dcm * ConstMatMap(b, s.k, s.n).transpose(), mode_a);
    if (db != nullptr)
        write_product(MatMap(db, s.k, s.n), ConstMatMap(a, s.m, s.k).transpose() * dcm, mode_b);
}

}  // namespace cpu

}  // namespace cudarts
