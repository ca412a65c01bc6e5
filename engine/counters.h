// Runtime counters: what the CUDA runtime wrappers have asked of the device since the last reset,
// so that a benchmark or a test can say how many kernels, cuBLAS calls, cudaMallocs and host
// waits one training step costs. They count in the SIMT emulation build too, where no time can
// be measured but every count is the one a GPU would see.
//
// Where each count is taken (one place per event, so nothing is counted twice):
//   launches       CUDARTS_CHECK_LAUNCH (kernels/cuda/cuda_check.h), which every launcher runs
//                  after its `<<<>>>`; memsets (cudaMemset*) are not kernel launches, not counted.
//                  Also counted by kernel family: the launcher's source file, "conv_bwd_data" for
//                  kernels/cuda/conv_bwd_data.cu (launches_by_family)
//   blas_calls     CUDARTS_CUBLAS_CHECK around a cuBLAS compute call (GEMM, ...); the handle's
//                  setup calls (cublasCreate, cublasSet*, cublasGet*, cublasDestroy) are not
//   device_allocs  cudaMalloc in raw_alloc (engine/memory.cpp): caching-allocator misses, arena
//                  chunks and DeviceBuffers
//   host_syncs     the host waiting for the device: device-to-host copies in copy_bytes, and the
//                  cudaDeviceSynchronize of CUDARTS_SYNC_DEBUG builds. A host-to-device copy from
//                  pageable memory also waits for the stream; it is counted as h2d_copies only
//   h2d_copies     host-to-device copies in copy_bytes (uploads, Tensor::fill_, from_vector)
//   bytes_in_use   CUDA bytes handed out by the caching allocator (rounded block sizes) plus
//                  live DeviceBuffers; cached free blocks and arena chunks are not included,
//                  like PyTorch's memory_allocated
//   peak_bytes     the largest bytes_in_use since the last reset
// Only CUDA devices count: CPU tensors and host copies leave every counter alone.
//
// The cells are relaxed atomics: exact for one thread (the training loop), never torn with more,
// but a reader racing a writer may see a count a few events old. The counting functions are
// inline in this header on purpose: kernels/cuda/cuda_check.h, a layer below the engine, counts
// through them without linking the engine library.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace cudarts {

struct RuntimeCounters {
    int64_t launches = 0, blas_calls = 0, device_allocs = 0, host_syncs = 0, h2d_copies = 0;
    int64_t bytes_in_use = 0, peak_bytes = 0;
};

// A snapshot of every counter.
RuntimeCounters runtime_counters();
// Zeroes the event counts; bytes_in_use is a level, not an event, and stays; peak_bytes becomes
// the current bytes_in_use.
void reset_runtime_counters();

// The difference after - before of the event counts (launches ... h2d_copies); bytes_in_use and
// peak_bytes are after's. For measuring a stretch of code without resetting the counters.
RuntimeCounters counters_since(const RuntimeCounters& before, const RuntimeCounters& after);

// The launches since the last reset by kernel family (the basename of the launcher's file without
// its extension; files of one basename are one family), most launches first, ties by name;
// families without a launch are left out. The
// counts add up to RuntimeCounters::launches unless more than detail::kMaxLaunchFamilies files
// launched (the rest count in the total only).
struct FamilyLaunches {
    std::string family;
    int64_t launches = 0;
};
std::vector<FamilyLaunches> launches_by_family();

namespace detail {

struct CounterCells {
    std::atomic<int64_t> launches{0}, blas_calls{0}, device_allocs{0}, host_syncs{0}, h2d_copies{0},
        bytes_in_use{0}, peak_bytes{0};
};
inline CounterCells g_counters;  // one per program (an inline variable), constant-initialised

inline void bump(std::atomic<int64_t>& cell) noexcept {
    cell.fetch_add(1, std::memory_order_relaxed);
}

// One cell per launching source file, claimed by the file's first launch (its __FILE__ pointer;
// the same name from another translation unit finds the cell by comparing the text).
inline constexpr int kMaxLaunchFamilies = 48;
struct FamilyCell {
    std::atomic<const char*> file{nullptr};
    std::atomic<int64_t> launches{0};
};
inline FamilyCell g_families[kMaxLaunchFamilies];

// One kernel launch by a launcher in source file `file`.
inline void count_launch(const char* file = "unnamed") noexcept {
    bump(g_counters.launches);
    for (FamilyCell& cell : g_families) {
        const char* owner = cell.file.load(std::memory_order_acquire);
        if (owner == nullptr) {
            if (cell.file.compare_exchange_strong(owner, file, std::memory_order_acq_rel)) {
                bump(cell.launches);
                return;
            }
            // Another thread claimed it first: owner now holds its file.
        }
        if (owner == file || std::strcmp(owner, file) == 0) {
            bump(cell.launches);
            return;
        }
    }
}
inline void count_blas_call() noexcept { bump(g_counters.blas_calls); }
inline void count_device_alloc() noexcept { bump(g_counters.device_allocs); }
inline void count_host_sync() noexcept { bump(g_counters.host_syncs); }
inline void count_h2d_copy() noexcept { bump(g_counters.h2d_copies); }

// bytes_in_use += delta (negative when memory goes back), raising peak_bytes to the new level.
inline void add_device_bytes(int64_t delta) noexcept {
    const int64_t now = g_counters.bytes_in_use.fetch_add(delta, std::memory_order_relaxed) + delta;
    int64_t peak = g_counters.peak_bytes.load(std::memory_order_relaxed);
    // Another thread may raise the peak between the load and the exchange: retry until the stored
    // peak is at least `now`.
    while (now > peak &&
           !g_counters.peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
}

}  // namespace detail

}  // namespace cudarts
