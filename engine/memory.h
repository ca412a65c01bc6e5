// Device memory: raw allocation, a caching allocator for persistent tensors, and byte copies.
// cudaMalloc/cudaFree appear only in engine/ (STYLE.md). The caching allocator keeps freed blocks
// in per-device free lists keyed by rounded size and hands them out again, so a training loop with
// fixed shapes stops calling the system allocator after its first step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "engine/device.h"

namespace cudarts {

// Raw memory: 256-byte-aligned host memory, or cudaMalloc on the given device.
void* raw_alloc(Device d, size_t bytes);
void raw_free(Device d, void* p) noexcept;

struct AllocatorStats {
    int64_t raw_allocs = 0;    // calls that reached raw_alloc
    int64_t bytes_in_use = 0;  // handed out and not yet freed
    int64_t bytes_cached = 0;  // held in free lists
    int64_t peak_in_use = 0;
};

class CachingAllocator {
public:
    static CachingAllocator& instance();  // created on first use, never destroyed
    void* alloc(Device d, size_t bytes);  // size rounded up to kRound; 0 bytes gives nullptr
    void free(Device d, void* p, size_t bytes) noexcept;  // bytes as passed to alloc
    void release_cached() noexcept;  // give every cached block back to the system
    AllocatorStats stats(Device d) const;
    static constexpr size_t kRound = 512;  // block size granularity in bytes

private:
    CachingAllocator();
    ~CachingAllocator();
    struct Impl;             // the free lists and statistics, in memory.cpp
    mutable std::mutex mu_;  // guards everything in impl_
    std::unique_ptr<Impl> impl_;
};

// memcpy between any two devices (cudaMemcpy when either side is CUDA). Synchronous in cudaMemcpy's
// sense: host memory may be read or reused on return; work on CUDA memory (a device-to-device copy,
// zero_bytes on a CUDA device) is ordered on the default stream.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void zero_bytes(void* p, Device d, size_t bytes);

}  // namespace cudarts
