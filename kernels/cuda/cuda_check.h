// Checked CUDA and cuBLAS calls, and the launch check every launcher ends with. Each failure throws
// cudarts::Error naming the call as written, the library's own message and file:line, so a fault
// reads "cudaMalloc(&p, bytes) failed: out of memory (engine/memory.cpp:57)". With
// CUDARTS_SYNC_DEBUG defined the launch check also synchronizes the device, so a fault inside an
// asynchronous kernel is reported at its own launch rather than at some later call.
// Include only from CUDA translation units (.cu files, or .cpp files built with CUDARTS_HAS_CUDA):
// it needs the CUDA runtime and cuBLAS headers.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>
#include <sstream>
#include <string>

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

inline void check_cublas(cublasStatus_t st, const char* call, const char* file, int line) {
    if (st != CUBLAS_STATUS_SUCCESS)
        throw_library_error(call, cublasGetStatusString(st), file, line);
}

inline void check_launch(const char* file, int line) {
    check_cuda(cudaGetLastError(), "kernel launch", file, line);
#if defined(CUDARTS_SYNC_DEBUG)
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
