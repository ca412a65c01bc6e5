// Raw allocation, the caching allocator and byte copies for host and CUDA memory.
// Host blocks come from std::aligned_alloc with 256-byte alignment, the same as cudaMalloc's, so
// a kernel's vectorized loads behave alike on both backends. CUDA calls run with the target
// device made current and the caller's current device restored afterwards.
// The caching allocator keeps, per device, a free list (multimap from block size to pointer) and
// the size of every block handed out. A request of b bytes, rounded up to kRound, takes a cached
// block of exactly that size; otherwise it asks raw_alloc, and when that fails it returns the
// device's cached blocks to the system and tries once more. Exact sizes make the steady state
// certain: a training step with fixed shapes makes the same requests every time, so once one step
// has run, each size has as many cached blocks as the step ever holds at once, and no later step
// allocates. (A best fit that hands a larger block to a smaller request would take that block
// from a later request of its own size, which then misses; the misses can go on for steps.) The
// cost is memory: a cached block serves one size only, and an out-of-memory retry after
// releasing the cache is what returns it. One mutex guards the whole allocator: allocations of
// persistent tensors are rare, so contention is not worth a finer scheme.
// The runtime counters (engine/counters.h) are taken here: every cudaMalloc, the CUDA bytes the
// allocator hands out and takes back, and every copy between host and device by direction.
#include "engine/memory.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <unordered_map>

#include "engine/counters.h"
#include "kernels/check.h"

#if CUDARTS_HAS_CUDA
#include "kernels/cuda/cuda_check.h"
#endif

namespace cudarts {

namespace {

constexpr size_t kHostAlign = 256;  // cudaMalloc's guaranteed alignment

size_t round_up(size_t bytes, size_t to, const char* who) {
    CUDARTS_CHECK(bytes <= std::numeric_limits<size_t>::max() - to,
                  who << ": " << bytes << " bytes is not a size");
    return (bytes + to - 1) / to * to;
}

#if CUDARTS_HAS_CUDA
// Makes `index` the current device for the lifetime of the guard.
class DeviceGuard {
public:
    explicit DeviceGuard(int index) {
        CUDARTS_CUDA_CHECK(cudaGetDevice(&prev_));
        if (prev_ != index) CUDARTS_CUDA_CHECK(cudaSetDevice(index));
    }
    ~DeviceGuard() { (void)cudaSetDevice(prev_); }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int prev_ = 0;
};
#else
[[noreturn]] void no_cuda(const char* who, Device d) {
    throw Error(std::string(who) + "(" + d.str() + "): built without CUDA");
}
#endif

}  // namespace

void* raw_alloc(Device d, size_t bytes) {
    if (bytes == 0) return nullptr;
    if (d.is_cpu()) {
        void* p = std::aligned_alloc(kHostAlign, round_up(bytes, kHostAlign, "raw_alloc"));
        CUDARTS_CHECK(p != nullptr,
                      "raw_alloc(cpu): out of host memory allocating " << bytes << " bytes");
        return p;
    }
#if CUDARTS_HAS_CUDA
    DeviceGuard guard(d.index);
    void* p = nullptr;
    CUDARTS_CUDA_CHECK(cudaMalloc(&p, bytes));
    detail::count_device_alloc();
    return p;
#else
    no_cuda("raw_alloc", d);
#endif
}

void raw_free(Device d, void* p) noexcept {
    if (p == nullptr) return;
    if (d.is_cpu()) {
        std::free(p);
        return;
    }
#if CUDARTS_HAS_CUDA
    int prev = 0;
    const bool switched = cudaGetDevice(&prev) == cudaSuccess && prev != d.index &&
                          cudaSetDevice(d.index) == cudaSuccess;
    const cudaError_t err = cudaFree(p);
    if (switched) (void)cudaSetDevice(prev);
    // At process exit the runtime may be unloaded before static destructors free their blocks;
    // the memory goes back with the context, so that case is not worth a message.
    if (err != cudaSuccess && err != cudaErrorCudartUnloading)
        std::fprintf(stderr, "cudarts: cudaFree on %s failed: %s\n", d.str().c_str(),
                     cudaGetErrorString(err));
#endif
}

struct CachingAllocator::Impl {
    struct Pool {
        std::multimap<size_t, void*> cached;           // block size -> block, free for reuse
        std::unordered_map<void*, size_t> handed_out;  // block -> its size
        AllocatorStats stats;
    };
    std::map<int, Pool> pools;  // keyed by device_key

    static int device_key(Device d) { return d.is_cpu() ? -1 : d.index; }

    void release(Device d, Pool& pool) noexcept {
        for (const auto& [size, p] : pool.cached) raw_free(d, p);
        pool.cached.clear();
        pool.stats.bytes_cached = 0;
    }
};

CachingAllocator::CachingAllocator() : impl_(std::make_unique<Impl>()) {}

// Never runs (instance() is never destroyed); defined here, where Impl is complete.
CachingAllocator::~CachingAllocator() = default;

CachingAllocator& CachingAllocator::instance() {
    // Deliberately never destroyed: a tensor in static storage may be freed after every
    // function-local static is gone, and at exit the system takes the memory back anyway.
    static CachingAllocator* const allocator = new CachingAllocator();
    return *allocator;
}

void* CachingAllocator::alloc(Device d, size_t bytes) {
    if (bytes == 0) return nullptr;
    const size_t size = round_up(bytes, kRound, "CachingAllocator::alloc");
    std::lock_guard<std::mutex> lock(mu_);
    Impl::Pool& pool = impl_->pools[Impl::device_key(d)];
    void* p = nullptr;
    const auto it = pool.cached.find(size);
    if (it != pool.cached.end()) {
        p = it->second;
        pool.cached.erase(it);
        pool.stats.bytes_cached -= int64_t(size);
    } else {
        try {
            p = raw_alloc(d, size);
        } catch (const Error&) {
            if (pool.cached.empty()) throw;
            impl_->release(d, pool);
            p = raw_alloc(d, size);
        }
        ++pool.stats.raw_allocs;
    }
    pool.handed_out.emplace(p, size);
    pool.stats.bytes_in_use += int64_t(size);
    pool.stats.peak_in_use = std::max(pool.stats.peak_in_use, pool.stats.bytes_in_use);
    if (d.is_cuda()) detail::add_device_bytes(int64_t(size));
    return p;
}

void CachingAllocator::free(Device d, void* p, size_t bytes) noexcept {
    if (p == nullptr) return;
    try {
        std::lock_guard<std::mutex> lock(mu_);
        Impl::Pool& pool = impl_->pools[Impl::device_key(d)];
        const auto it = pool.handed_out.find(p);
        if (it == pool.handed_out.end() || it->second < bytes) {
            // A pointer from elsewhere, freed twice, or freed on the wrong device: a bug, but a
            // destructor is the usual caller, so log and leave the memory alone.
            std::fprintf(stderr, "cudarts: CachingAllocator::free(%s, %p, %zu): not a live block\n",
                         d.str().c_str(), p, bytes);
            return;
        }
        const size_t block = it->second;
        pool.handed_out.erase(it);
        pool.stats.bytes_in_use -= int64_t(block);
        if (d.is_cuda()) detail::add_device_bytes(-int64_t(block));
        pool.cached.emplace(block, p);
        pool.stats.bytes_cached += int64_t(block);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cudarts: CachingAllocator::free: %s\n", e.what());
    }
}

void CachingAllocator::release_cached() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, pool] : impl_->pools)
        impl_->release(key < 0 ? Device::cpu() : Device::cuda(key), pool);
}

AllocatorStats CachingAllocator::stats(Device d) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = impl_->pools.find(Impl::device_key(d));
    return it == impl_->pools.end() ? AllocatorStats{} : it->second.stats;
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
    if (bytes == 0) return;
    if (dst_dev.is_cpu() && src_dev.is_cpu()) {
        std::memcpy(dst, src, bytes);
        return;
    }
#if CUDARTS_HAS_CUDA
    if (dst_dev.is_cuda() && src_dev.is_cuda() && dst_dev.index != src_dev.index) {
        CUDARTS_CUDA_CHECK(cudaMemcpyPeer(dst, dst_dev.index, src, src_dev.index, bytes));
        return;
    }
    const cudaMemcpyKind kind = src_dev.is_cpu()   ? cudaMemcpyHostToDevice
                                : dst_dev.is_cpu() ? cudaMemcpyDeviceToHost
                                                   : cudaMemcpyDeviceToDevice;
    // cudaMemcpy returns to a host reading device memory only once the copy, and everything
    // queued before it, has finished: a host synchronisation.
    if (kind == cudaMemcpyDeviceToHost) detail::count_host_sync();
    if (kind == cudaMemcpyHostToDevice) detail::count_h2d_copy();
    DeviceGuard guard(dst_dev.is_cuda() ? dst_dev.index : src_dev.index);
    CUDARTS_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
#else
    no_cuda("copy_bytes", dst_dev.is_cuda() ? dst_dev : src_dev);
#endif
}

void zero_bytes(void* p, Device d, size_t bytes) {
    if (bytes == 0) return;
    if (d.is_cpu()) {
        std::memset(p, 0, bytes);
        return;
    }
#if CUDARTS_HAS_CUDA
    DeviceGuard guard(d.index);
    CUDARTS_CUDA_CHECK(cudaMemset(p, 0, bytes));
#else
    no_cuda("zero_bytes", d);
#endif
}

}  // namespace cudarts
