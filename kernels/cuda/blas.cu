// cuBLAS handles and the row-major GEMM wrappers of kernels/cuda/blas.h. No kernels of our own:
// the only device work besides cuBLAS is the memset of a k == 0 product under overwrite.
// Handles live in a thread_local list keyed by device, each owned by a unique_ptr whose deleter
// calls cublasDestroy, so a thread's handles go away when it exits; none is made before the
// first GEMM (no static initializer touches the GPU).
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/check.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/cuda_check.h"

namespace cudarts::cuda {

namespace {

std::atomic<bool> g_tf32{false};

struct HandleDeleter {
    // The status is dropped: a deleter must not throw, and at process exit the CUDA context may
    // already be gone, which cublasDestroy reports as an error that nothing can act on.
    void operator()(cublasContext* h) const noexcept { (void)cublasDestroy(h); }
};
using HandlePtr = std::unique_ptr<cublasContext, HandleDeleter>;

struct DeviceHandle {
    int device;
    HandlePtr handle;
};

cublasOperation_t op(bool transpose) { return transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

// Row-major m x n at c with row stride ldc set to zero: the k == 0 product under overwrite.
void zero_matrix(float* c, int m, int n, int ldc, Stream st) {
    CUDARTS_CUDA_CHECK(cudaMemset2DAsync(c, size_t(ldc) * sizeof(float), 0,
                                         size_t(n) * sizeof(float), size_t(m), st));
}

void check_dims(int m, int n, int k, int lda, int ldb, int ldc, bool trans_a, bool trans_b) {
    CUDARTS_CHECK(m >= 0 && n >= 0 && k >= 0,
                  "gemm_rm: negative dimension m=" << m << " n=" << n << " k=" << k);
    // Row strides must cover a stored row: A is m x k (k x m when transposed), B k x n (n x k).
    CUDARTS_CHECK(lda >= (trans_a ? m : k) && ldb >= (trans_b ? k : n) && ldc >= n,
                  "gemm_rm: row strides lda=" << lda << " ldb=" << ldb << " ldc=" << ldc
                                              << " too small for m=" << m << " n=" << n
                                              << " k=" << k);
}

}  // namespace

cublasHandle_t cublas_handle(Stream st) {
    thread_local std::vector<DeviceHandle> handles;
    int device = 0;
    CUDARTS_CUDA_CHECK(cudaGetDevice(&device));
    cublasHandle_t h = nullptr;
    for (const DeviceHandle& dh : handles)
        if (dh.device == device) h = dh.handle.get();
    if (h == nullptr) {
        CUDARTS_CUBLAS_CHECK(cublasCreate(&h));
        HandlePtr owned(h);
        CUDARTS_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
        handles.push_back({device, std::move(owned)});
    }
    CUDARTS_CUBLAS_CHECK(cublasSetStream(h, st));
    CUDARTS_CUBLAS_CHECK(cublasSetMathMode(h, g_tf32.load(std::memory_order_relaxed)
                                                  ? CUBLAS_TF32_TENSOR_OP_MATH
                                                  : CUBLAS_DEFAULT_MATH));
    return h;
}

void set_tf32(bool on) { g_tf32.store(on, std::memory_order_relaxed); }
bool tf32_enabled() { return g_tf32.load(std::memory_order_relaxed); }

void gemm_rm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda,
             const float* b, int ldb, GradMode mode, float* c, int ldc, Stream st) {
    check_dims(m, n, k, lda, ldb, ldc, trans_a, trans_b);
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (mode == GradMode::kOverwrite) zero_matrix(c, m, n, ldc, st);
        return;
    }
    const float one = 1.f, beta = mode == GradMode::kOverwrite ? 0.f : 1.f;
    // Column-major C^T (n x m) = op(B)^T (n x k) op(A)^T (k x m): see the note in blas.h.
    CUDARTS_CUBLAS_CHECK(cublasSgemm(cublas_handle(st), op(trans_b), op(trans_a), n, m, k, &one, b,
                                     ldb, a, lda, &beta, c, ldc));
}

void gemm_rm_strided_batched(bool trans_a, bool trans_b, int m, int n, int k, const float* a,
                             int lda, int64_t stride_a, const float* b, int ldb, int64_t stride_b,
                             GradMode mode, float* c, int ldc, int64_t stride_c, int batch,
                             Stream st) {
    check_dims(m, n, k, lda, ldb, ldc, trans_a, trans_b);
    CUDARTS_CHECK(batch >= 0 && stride_a >= 0 && stride_b >= 0 && stride_c >= 0,
                  "gemm_rm_strided_batched: batch=" << batch << " strides " << stride_a << ", "
                                                    << stride_b << ", " << stride_c);
    if (m == 0 || n == 0 || batch == 0) return;
    if (k == 0) {
        if (mode == GradMode::kOverwrite)
            for (int i = 0; i < batch; ++i) zero_matrix(c + i * stride_c, m, n, ldc, st);
        return;
    }
    const float one = 1.f, beta = mode == GradMode::kOverwrite ? 0.f : 1.f;
    CUDARTS_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(st), op(trans_b), op(trans_a), n,
                                                   m, k, &one, b, ldb, stride_b, a, lda, stride_a,
                                                   &beta, c, ldc, stride_c, batch));
}

}  // namespace cudarts::cuda
