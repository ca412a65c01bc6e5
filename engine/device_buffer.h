// A move-only block of raw memory on one device (engine/memory.h raw_alloc/raw_free), for code
// that needs device memory without a Tensor: the CUDA test suites and the kernel benchmark. It is
// never copied by accident: a second buffer with the same bytes comes only from clone().
// upload/download copy bytes between the buffer and host memory, synchronously as copy_bytes.
// A buffer on a CUDA device counts its bytes in the runtime counters' bytes_in_use
// (engine/counters.h) while it holds them; raw_alloc counts the cudaMalloc.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "engine/counters.h"
#include "engine/device.h"
#include "engine/memory.h"
#include "kernels/check.h"

namespace cudarts {

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    // `bytes` uninitialised bytes on d.
    DeviceBuffer(Device d, size_t bytes) : dev_(d), p_(raw_alloc(d, bytes)), bytes_(bytes) {
        count_bytes(+1);
    }
    ~DeviceBuffer() { release(); }
    DeviceBuffer(DeviceBuffer&& o) noexcept
        : dev_(o.dev_), p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
        if (this != &o) {
            release();
            dev_ = o.dev_;
            p_ = std::exchange(o.p_, nullptr);
            bytes_ = std::exchange(o.bytes_, 0);
        }
        return *this;
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    // The host values first, then extra_bytes uninitialised bytes.
    template <class T>
    static DeviceBuffer from_host(Device d, const std::vector<T>& host, size_t extra_bytes = 0) {
        DeviceBuffer b(d, host.size() * sizeof(T) + extra_bytes);
        b.upload(host.data(), host.size() * sizeof(T));
        return b;
    }

    // A new buffer on the same device holding the same bytes.
    DeviceBuffer clone() const {
        DeviceBuffer b(dev_, bytes_);
        if (bytes_ > 0) copy_bytes(b.p_, dev_, p_, dev_, bytes_);
        return b;
    }

    // Host bytes into [offset, offset + bytes) of the buffer, and back.
    void upload(const void* src, size_t bytes, size_t offset = 0) {
        check_range(bytes, offset, "upload");
        if (bytes > 0) copy_bytes(at(offset), dev_, src, Device::cpu(), bytes);
    }
    void download(void* dst, size_t bytes, size_t offset = 0) const {
        check_range(bytes, offset, "download");
        if (bytes > 0) copy_bytes(dst, Device::cpu(), at(offset), dev_, bytes);
    }
    // The first `count` values of type T, on the host.
    template <class T>
    std::vector<T> to_host(size_t count) const {
        std::vector<T> h(count);
        download(h.data(), count * sizeof(T));
        return h;
    }

    void* data() const { return p_; }
    template <class T>
    T* as() const {
        return static_cast<T*>(p_);
    }
    size_t bytes() const { return bytes_; }
    Device device() const { return dev_; }

private:
    void* at(size_t offset) const { return static_cast<char*>(p_) + offset; }
    // Adds (sign +1) or removes (-1) this buffer's bytes from the counters' bytes_in_use.
    void count_bytes(int sign) const noexcept {
        if (p_ != nullptr && dev_.is_cuda()) detail::add_device_bytes(sign * int64_t(bytes_));
    }
    void release() noexcept {
        count_bytes(-1);
        raw_free(dev_, p_);
    }
    void check_range(size_t bytes, size_t offset, const char* what) const {
        CUDARTS_CHECK(offset <= bytes_ && bytes <= bytes_ - offset,
                      "DeviceBuffer " << what << ": " << bytes << " bytes at offset " << offset
                                      << " overrun a buffer of " << bytes_);
    }

    Device dev_ = Device::cpu();
    void* p_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace cudarts
