// cuBLAS for the CUDA kernels: one handle per host thread and device, and a row-major GEMM.
// cuBLAS is column-major. A row-major matrix with row stride ld is, byte for byte, the
// column-major transpose with the same ld, so the row-major product C = op(A) op(B) is computed
// as the column-major C^T = op(B)^T op(A)^T: the operands swap places and keep their op flags.
// FP32 GEMMs stay in full FP32 by default (CUBLAS_DEFAULT_MATH never picks TF32 for SGEMM), so
// results differ from the CPU's Eigen products by summation order only; set_tf32(true) lets
// cuBLAS use TF32 tensor cores (10-bit mantissa inputs) for speed at that cost.
// cuBLAS GEMMs are bitwise reproducible run to run on one GPU model and toolkit version, as long
// as one handle is not shared by concurrent streams (see cuBLAS "Results reproducibility").
// CUDA translation units only: this header needs cublas_v2.h.
#pragma once

#include <cublas_v2.h>

#include "kernels/common.h"

namespace cudarts::cuda {

// This thread's handle for the current device, created on first use and destroyed when the thread
// exits; bound to stream st and to the current TF32 setting on every call.
cublasHandle_t cublas_handle(Stream st);

// Process-wide switch for TF32 tensor-core math in the GEMMs below (off by default).
void set_tf32(bool on);
bool tf32_enabled();

// Row-major C (m x n, row stride ldc) = op(A) op(B) (mode kOverwrite) or C += op(A) op(B)
// (kAccumulate), where op(A) is m x k and op(B) is k x n; A and B are row-major with row strides
// lda and ldb as stored (before the transpose). With k == 0 the product is zero: overwrite
// zeroes C, accumulate leaves it. m == 0 or n == 0 does nothing. Overwrite never reads C.
void gemm_rm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda,
             const float* b, int ldb, GradMode mode, float* c, int ldc, Stream st);

// `batch` such products; matrix i of each operand starts stride_* floats after matrix i - 1.
// A stride of 0 broadcasts one matrix to every product (a shared weight).
void gemm_rm_strided_batched(bool trans_a, bool trans_b, int m, int n, int k, const float* a,
                             int lda, int64_t stride_a, const float* b, int ldb, int64_t stride_b,
                             GradMode mode, float* c, int ldc, int64_t stride_c, int batch,
                             Stream st);

}  // namespace cudarts::cuda
