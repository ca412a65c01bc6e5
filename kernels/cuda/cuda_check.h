// Checked CUDA and cuBLAS calls, and the launch check every launcher ends with. Each failure throws
// cudarts::Error naming the call as written, the library's own message and file:line, so a fault
// reads "cudaMalloc(&p, bytes) failed: out of memory (engine/memory.cpp:57)". With
// CUDARTS_SYNC_DEBUG defined the launch check also synchronizes the device, so a fault inside an
// asynchronous kernel is reported at its own launch rather than at some later call.
// Both checks also count (engine/counters.h): every launch check is one kernel launch, every
// checked cuBLAS compute call one BLAS call (handle setup calls are not counted).
// Include only from CUDA translation units (.cu files, or .cpp files built with CUDARTS_HAS_CUDA):
// it needs the CUDA runtime and cuBLAS headers.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <sstream>
#include <string>

#include "engine/counters.h"
#include "kernels/check.h"

namespace cudarts::detail {

[[noreturn]] inline void throw_library_error(const char* call, const char* what, const char* file,
                                             int line) {
    std::ostringstream os;
    os << call << " failed: " << what << " (" << file << ":" << line << ")";
    throw Error(os.str());
}

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
    if (err == cudaSuccess) return;
    // Clear the non-sticky error so that the next, unrelated check does not report it again.
    (void)cudaGetLastError();
    throw_library_error(call, cudaGetErrorString(err), file, line);
}

// Whether the call text `call` (as written in the source) starts with `prefix`.
constexpr bool call_starts_with(const char* call, const char* prefix) {
    for (; *prefix != '\0'; ++call, ++prefix)
        if (*call != *prefix) return false;
    return true;
}

// Whether a checked cuBLAS call does work on the device (a GEMM and the like) rather than set up
// the handle (cublasCreate, cublasDestroy, cublasSet*, cublasGet*).
constexpr bool is_blas_work(const char* call) {
    return !call_starts_with(call, "cublasCreate") && !call_starts_with(call, "cublasDestroy") &&
           !call_starts_with(call, "cublasSet") && !call_starts_with(call, "cublasGet");
}

inline void check_cublas(cublasStatus_t st, const char* call, const char* file, int line) {
    if (is_blas_work(call)) count_blas_call();
    if (st != CUBLAS_STATUS_SUCCESS)
        throw_library_error(call, cublasGetStatusString(st), file, line);
}

inline void check_launch(const char* file, int line) {
    count_launch(file);
    check_cuda(cudaGetLastError(), "kernel launch", file, line);
#if defined(CUDARTS_SYNC_DEBUG)
    count_host_sync();
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize after kernel launch", file, line);
#endif
}

}  // namespace cudarts::detail

namespace cudarts {

// Blocks of per_block work items needed to cover `work` items: ceil(work / per_block). Throws when
// the grid would exceed the x-dimension limit (2^31 - 1); grid-stride kernels cap it themselves.
inline int blocks_for(int64_t work, int per_block) {
    CUDARTS_CHECK(work >= 0 && per_block > 0,
                  "blocks_for: work=" << work << " per_block=" << per_block);
    const int64_t blocks = (work + per_block - 1) / per_block;
    CUDARTS_CHECK(blocks <= INT_MAX,
                  "blocks_for: " << blocks << " blocks exceed the grid limit (work=" << work
                                 << " per_block=" << per_block << ")");
    return int(blocks);
}

}  // namespace cudarts

#define CUDARTS_CUDA_CHECK(call) ::cudarts::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define CUDARTS_CUBLAS_CHECK(call) \
    ::cudarts::detail::check_cublas((call), #call, __FILE__, __LINE__)
#define CUDARTS_CHECK_LAUNCH() ::cudarts::detail::check_launch(__FILE__, __LINE__)
