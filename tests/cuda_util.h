// Device buffers for the CUDA-vs-CPU suites (compiled only with CUDARTS_HAS_CUDA). A DeviceVec
// owns device memory through engine/memory.h, starts poisoned with NaN (so an output element a
// kernel forgets to write fails the comparison), and carries a guard zone after the data that
// must still hold its pattern after the launch (catching overruns).
#pragma once

#if CUDARTS_HAS_CUDA

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/memory.h"
#include "tests/util.h"

namespace cudarts::test {

class DeviceVec {
public:
    static constexpr int64_t kGuard = 64;  // floats after the data, filled with a sentinel

    explicit DeviceVec(const std::vector<float>& host) : n_(int64_t(host.size())) {
        alloc();
        copy_bytes(p_, Device::cuda(), host.data(), Device::cpu(), bytes(n_));
    }
    static DeviceVec poisoned(int64_t n) {
        return DeviceVec(std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN()));
    }
    ~DeviceVec() { raw_free(Device::cuda(), p_); }
    DeviceVec(DeviceVec&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; }
    DeviceVec(const DeviceVec&) = delete;
    DeviceVec& operator=(const DeviceVec&) = delete;

    float* data() const { return static_cast<float*>(p_); }
    int64_t size() const { return n_; }
    std::vector<float> to_host() const {
        std::vector<float> h(static_cast<size_t>(n_));
        copy_bytes(h.data(), Device::cpu(), p_, Device::cuda(), bytes(n_));
        return h;
    }
    // Whether the guard zone after the data is intact.
    bool guard_intact() const {
        std::vector<float> g(static_cast<size_t>(kGuard));
        copy_bytes(g.data(), Device::cpu(), data() + n_, Device::cuda(), bytes(kGuard));
        for (float v : g)
            if (v != kSentinel) return false;
        return true;
    }

private:
    static constexpr float kSentinel = -12345.f;
    static size_t bytes(int64_t n) { return size_t(n) * sizeof(float); }
    void alloc() {
        p_ = raw_alloc(Device::cuda(), bytes(n_ + kGuard));
        const std::vector<float> g(size_t(kGuard), kSentinel);
        copy_bytes(data() + n_, Device::cuda(), g.data(), Device::cpu(), bytes(kGuard));
    }
    void* p_ = nullptr;
    int64_t n_ = 0;
};

// The same for int32 inputs (labels, ids).
class DeviceInts {
public:
    explicit DeviceInts(const std::vector<int32_t>& host) : n_(int64_t(host.size())) {
        p_ = raw_alloc(Device::cuda(), host.size() * sizeof(int32_t) + 4);
        copy_bytes(p_, Device::cuda(), host.data(), Device::cpu(), host.size() * sizeof(int32_t));
    }
    ~DeviceInts() { raw_free(Device::cuda(), p_); }
    DeviceInts(const DeviceInts&) = delete;
    DeviceInts& operator=(const DeviceInts&) = delete;
    int32_t* data() const { return static_cast<int32_t*>(p_); }

private:
    void* p_ = nullptr;
    int64_t n_ = 0;
};

// Tests launch on the legacy default stream and synchronise through the blocking copies.
inline Stream test_stream() { return nullptr; }

}  // namespace cudarts::test

#endif  // CUDARTS_HAS_CUDA
