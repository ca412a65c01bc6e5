// Tensor: a typed, shaped view of device memory. float32/int32/int64, contiguous row-major
// (NCHW for images), on the CPU or one CUDA device. A Tensor is a cheap handle: copies share the
// storage (like torch.Tensor), `clone()` copies the data. Views (`view`, `reshape`) share the
// storage too; that is how a model's named parameters sit inside one flat buffer (DESIGN 3).
// Persistent storage comes from the caching allocator (engine/memory.h) and returns there when the
// last handle goes. There is no silent copy between devices: `to(Device)` is the only way across.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"

namespace cudarts {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[3, 5, 7, 7]"

class Tensor {
public:
    Tensor() = default;  // undefined: defined() is false

    static Tensor empty(const Shape& shape, Device dev = Device::cpu(), DType dt = DType::kF32);
    static Tensor zeros(const Shape& shape, Device dev = Device::cpu(), DType dt = DType::kF32);
    static Tensor full(const Shape& shape, float value, Device dev = Device::cpu());
    static Tensor from_vector(const std::vector<float>& v, const Shape& shape,
                              Device dev = Device::cpu());
    static Tensor from_vector(const std::vector<int32_t>& v, const Shape& shape,
                              Device dev = Device::cpu());
    static Tensor from_vector(const std::vector<int64_t>& v, const Shape& shape,
                              Device dev = Device::cpu());

    bool defined() const { return storage_ != nullptr; }
    const Shape& shape() const { return shape_; }
    int ndim() const { return int(shape_.size()); }
    int64_t size(int d) const;  // negative d counts from the back
    int64_t numel() const { return shape_numel(shape_); }
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
    DType dtype() const { return dtype_; }
    Device device() const;

    // Typed data pointers; each checks the dtype and throws Error on a mismatch.
    float* f32() const;
    int32_t* i32() const;
    int64_t* i64() const;
    void* raw() const;

    // A view of `shape` starting `offset` elements into this tensor's data (shares storage).
    Tensor view(int64_t offset, const Shape& shape) const;
    Tensor reshape(const Shape& shape) const;  // same numel, shares storage
    Tensor flatten() const { return reshape({numel()}); }

    Tensor to(Device dev) const;  // copies unless already there (then returns *this)
    Tensor clone() const;
    std::vector<float> to_vector() const;  // f32 only, from any device
    std::vector<int32_t> to_vector_i32() const;
    std::vector<int64_t> to_vector_i64() const;
    float item() const;  // the only element of a one-element f32 tensor

    void copy_(const Tensor& src) const;  // same shape (numel), dtype; any devices
    void zero_() const;
    void fill_(float value) const;

    // Whether two tensors share any bytes of the same storage.
    bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

private:
    struct Storage;
    std::shared_ptr<Storage> storage_;
    int64_t offset_ = 0;  // elements
    Shape shape_;
    DType dtype_ = DType::kF32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);  // "Tensor[3, 5] f32 cpu"

// Throws Error naming `what` unless a and b are on the same device.
void check_same_device(const Tensor& a, const Tensor& b, const char* what);

}  // namespace cudarts
