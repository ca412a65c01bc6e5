// The emulator's cuBLAS (tests/simt/include/cublas_v2.h): handles and the FP32 GEMMs,
// column-major as cuBLAS, with its argument checks (CUBLAS_STATUS_INVALID_VALUE for negative
// sizes, leading dimensions below max(1, rows) and negative batch counts). C is read only when
// beta != 0, as cuBLAS promises, so an overwrite into poisoned memory stays clean. Each element
// sums its k products in double, rounded once: at least as accurate as cuBLAS's blocked float
// sums, whose error the tests' tolerances allow for (a plain float sum in k order would not).
#include <cublas_v2.h>

#include <algorithm>
#include <vector>

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new cublasContext();
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t st) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = st;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;
    handle->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS:
            return "the operation completed successfully";
        case CUBLAS_STATUS_NOT_INITIALIZED:
            return "the library was not initialized";
        case CUBLAS_STATUS_ALLOC_FAILED:
            return "the resource allocation failed";
        case CUBLAS_STATUS_INVALID_VALUE:
            return "an invalid numeric value was used as an argument";
        case CUBLAS_STATUS_EXECUTION_FAILED:
            return "the GPU program failed to execute";
        case CUBLAS_STATUS_NOT_SUPPORTED:
            return "the functionality requested is not supported";
    }
    return "unknown error";
}

namespace {

bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T; }

cublasStatus_t check(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                     int n, int k, const float* alpha, int lda, int ldb, const float* beta,
                     int ldc) {
    if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!valid_op(ta) || !valid_op(tb) || m < 0 || n < 0 || k < 0 || alpha == nullptr ||
        beta == nullptr)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < std::max(1, ta == CUBLAS_OP_N ? m : k) ||
        ldb < std::max(1, tb == CUBLAS_OP_N ? k : n) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

// C (m x n, column-major) = alpha op(A) op(B) + beta C.
void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
          const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
    std::vector<double> acc(static_cast<size_t>(m));
    for (int j = 0; j < n; ++j) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int l = 0; l < k; ++l) {
            const double bv = tb == CUBLAS_OP_N ? b[l + int64_t(j) * ldb] : b[j + int64_t(l) * ldb];
            if (ta == CUBLAS_OP_N) {
                const float* col = a + int64_t(l) * lda;
                for (int i = 0; i < m; ++i) acc[size_t(i)] += col[i] * bv;
            } else {
                for (int i = 0; i < m; ++i) acc[size_t(i)] += a[l + int64_t(i) * lda] * bv;
            }
        }
        float* cj = c + int64_t(j) * ldc;
        for (int i = 0; i < m; ++i) {
            const float p = float(acc[size_t(i)]);
            cj[i] = beta == 0.f ? alpha * p : alpha * p + beta * cj[i];
        }
    }
}

}  // namespace

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* a, int lda, const float* b, int ldb, const float* beta,
                           float* c, int ldc) {
    if (const cublasStatus_t st =
            check(handle, transa, transb, m, n, k, alpha, lda, ldb, beta, ldc))
        return st;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    gemm(transa, transb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k,
                                         const float* alpha, const float* a, int lda,
                                         long long stride_a, const float* b, int ldb,
                                         long long stride_b, const float* beta, float* c, int ldc,
                                         long long stride_c, int batch) {
    if (const cublasStatus_t st =
            check(handle, transa, transb, m, n, k, alpha, lda, ldb, beta, ldc))
        return st;
    if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    for (int i = 0; i < batch; ++i)
        gemm(transa, transb, m, n, k, *alpha, a + i * stride_a, lda, b + i * stride_b, ldb, *beta,
             c + i * stride_c, ldc);
    return CUBLAS_STATUS_SUCCESS;
}
