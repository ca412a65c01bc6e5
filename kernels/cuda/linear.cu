// Dense layers on the GPU, row-major fp32 (formulas in kernels/linear.h, reference
// cpu/linear.cpp). Every product is one cuBLAS SGEMM through the row-major wrapper of
// kernels/cuda/blas.h, on the caller's buffers in place:
//   linear  y = x W^T (+ b),  dx = dy W,  dW = dy^T x,  db = column sums of dy
//   matmul  C = A B,          dA = dC B^T,  dB = A^T dC
// GradMode maps to beta (overwrite 0, accumulate 1); a null gradient output is skipped.
// The bias is added after the GEMM, as on the CPU. DARTS' dense layers are small (the classifier
// is 64 x 256 x 10; the recurrent cell's [x|h] W is at most a few GFLOP), so the GEMMs are
// latency-bound and the two bias kernels move a few KB.
//   bias fwd v1  one thread per y element adds b[o]
//   bias bwd v1  a 32 x 8 block per 32 columns: each of the 8 row lanes sums every 8th row of
//                its column (coalesced across the 32 columns), then lane 0 adds the 8 partial
//                sums in lane order: deterministic, one write_grad per db element
#include "kernels/check.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/linear.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kColTile = 32;  // db columns per block: one warp reads 128 contiguous bytes
constexpr int kRowLanes = 8;  // row-strided partial sums per column

void check_shape(const LinearShape& s) {
    CUDARTS_CHECK(s.rows >= 0 && s.in >= 0 && s.out >= 0, "negative dimension in " << s);
}
void check_shape(const MatmulShape& s) {
    CUDARTS_CHECK(s.m >= 0 && s.k >= 0 && s.n >= 0, "negative dimension in " << s);
}

// One thread per y element (r, o).
__global__ void linear_bias_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ b,
                                          int64_t total, int out) {
    const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx < total) y[idx] += b[idx % out];
}

// Block (kColTile, kRowLanes) per kColTile columns; see the file note.
__global__ void linear_bias_bwd_kernel_v1(float* __restrict__ db, const float* __restrict__ dy,
                                          int rows, int out, GradMode mode) {
    __shared__ float lane_sums[kRowLanes][kColTile];
    const int o = blockIdx.x * kColTile + threadIdx.x;
    float acc = 0.f;
    if (o < out)
        for (int r = threadIdx.y; r < rows; r += kRowLanes) acc += dy[int64_t(r) * out + o];
    lane_sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y != 0 || o >= out) return;
    float sum = 0.f;
    for (int lane = 0; lane < kRowLanes; ++lane) sum += lane_sums[lane][threadIdx.x];
    write_grad(db[o], sum, mode);
}

}  // namespace

void linear_fwd(float* y, const float* x, const float* w, const float* b, const LinearShape& s,
                Stream st) {
    check_shape(s);
    const int64_t outputs = int64_t(s.rows) * s.out;
    if (outputs == 0) return;
    // y (rows x out) = x (rows x in) W^T, W stored (out x in).
    gemm_rm(false, true, s.rows, s.out, s.in, x, s.in, w, s.in, GradMode::kOverwrite, y, s.out, st);
    if (b == nullptr) return;
    linear_bias_fwd_kernel_v1<<<blocks_for(outputs, kBlock), kBlock, 0, st>>>(y, b, outputs, s.out);
    CUDARTS_CHECK_LAUNCH();
}

void linear_bwd_data(float* dx, const float* dy, const float* w, const LinearShape& s,
                     GradMode mode, Stream st) {
    check_shape(s);
    if (dx == nullptr) return;
    // dx (rows x in) = dy (rows x out) W (out x in).
    gemm_rm(false, false, s.rows, s.in, s.out, dy, s.out, w, s.in, mode, dx, s.in, st);
}

void linear_bwd_weight(float* dw, float* db, const float* dy, const float* x, const LinearShape& s,
                       GradMode mode, Stream st) {
    check_shape(s);
    // dW (out x in) = dy^T (out x rows) x (rows x in); rows == 0 zeroes it under overwrite.
    if (dw != nullptr)
        gemm_rm(true, false, s.out, s.in, s.rows, dy, s.out, x, s.in, mode, dw, s.in, st);
    if (db == nullptr || s.out == 0) return;
    const dim3 block(kColTile, kRowLanes);
    linear_bias_bwd_kernel_v1<<<blocks_for(s.out, kColTile), block, 0, st>>>(db, dy, s.rows, s.out,
                                                                             mode);
    CUDARTS_CHECK_LAUNCH();
}

void matmul_fwd(float* c, const float* a, const float* b, const MatmulShape& s, Stream st) {
    check_shape(s);
    // C (m x n) = A (m x k) B (k x n).
    gemm_rm(false, false, s.m, s.n, s.k, a, s.k, b, s.n, GradMode::kOverwrite, c, s.n, st);
}

void matmul_bwd(float* da, float* db, const float* dc, const float* a, const float* b,
                const MatmulShape& s, GradMode mode_a, GradMode mode_b, Stream st) {
    check_shape(s);
    // dA (m x k) = dC (m x n) B^T;  dB (k x n) = A^T dC.
    if (da != nullptr) gemm_rm(false, true, s.m, s.k, s.n, dc, s.n, b, s.n, mode_a, da, s.k, st);
    if (db != nullptr) gemm_rm(true, false, s.k, s.n, s.m, a, s.k, dc, s.n, mode_b, db, s.n, st);
}

}  // namespace cudarts::cuda
