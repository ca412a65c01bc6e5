// Tensor handles over caching-allocator storage. Everything device-specific goes through
// engine/memory.h (byte copies and fills), so this file compiles without CUDA.
#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/memory.h"
#include "kernels/check.h"
#include "kernels/elementwise.h"

namespace cudarts {

int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

std::string shape_str(const Shape& s) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << "]";
    return os.str();
}

struct Tensor::Storage {
    void* ptr = nullptr;
    size_t bytes = 0;
    Device device;
    Storage(size_t b, Device d) : bytes(b), device(d) {
        ptr = CachingAllocator::instance().alloc(d, b);
    }
    ~Storage() { CachingAllocator::instance().free(device, ptr, bytes); }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
};

Tensor Tensor::empty(const Shape& shape, Device dev, DType dt) {
    for (int64_t d : shape)
        CUDARTS_CHECK(d >= 0, "Tensor::empty: negative dimension in shape " << shape_str(shape));
    Tensor t;
    t.shape_ = shape;
    t.dtype_ = dt;
    // Even an empty tensor owns a storage object, so that defined() means "has a shape".
    t.storage_ = std::make_shared<Storage>(t.nbytes(), dev);
    return t;
}

Tensor Tensor::zeros(const Shape& shape, Device dev, DType dt) {
    Tensor t = empty(shape, dev, dt);
    t.zero_();
    return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device dev) {
    Tensor t = empty(shape, dev);
    t.fill_(value);
    return t;
}

template <class T>
static Tensor from_host(const std::vector<T>& v, const Shape& shape, Device dev, DType dt) {
    CUDARTS_CHECK(int64_t(v.size()) == shape_numel(shape),
                  "Tensor::from_vector: " << v.size() << " values for shape " << shape_str(shape));
    Tensor t = Tensor::empty(shape, dev, dt);
    copy_bytes(t.raw(), dev, v.data(), Device::cpu(), t.nbytes());
    return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape, Device dev) {
    return from_host(v, shape, dev, DType::kF32);
}
Tensor Tensor::from_vector(const std::vector<int32_t>& v, const Shape& shape, Device dev) {
    return from_host(v, shape, dev, DType::kI32);
}
Tensor Tensor::from_vector(const std::vector<int64_t>& v, const Shape& shape, Device dev) {
    return from_host(v, shape, dev, DType::kI64);
}

int64_t Tensor::size(int d) const {
    const int nd = ndim();
    if (d < 0) d += nd;
    CUDARTS_CHECK(d >= 0 && d < nd, "Tensor::size: dim " << d << " of shape " << shape_str(shape_));
    return shape_[size_t(d)];
}

Device Tensor::device() const {
    CUDARTS_CHECK(defined(), "Tensor::device: undefined tensor");
    return storage_->device;
}

void* Tensor::raw() const {
    CUDARTS_CHECK(defined(), "Tensor: data of an undefined tensor");
    return static_cast<char*>(storage_->ptr) + offset_ * int64_t(dtype_size(dtype_));
}

float* Tensor::f32() const {
    CUDARTS_CHECK(dtype_ == DType::kF32,
                  "Tensor: f32 data of a " << dtype_name(dtype_) << " tensor");
    return static_cast<float*>(raw());
}
int32_t* Tensor::i32() const {
    CUDARTS_CHECK(dtype_ == DType::kI32,
                  "Tensor: i32 data of a " << dtype_name(dtype_) << " tensor");
    return static_cast<int32_t*>(raw());
}
int64_t* Tensor::i64() const {
    CUDARTS_CHECK(dtype_ == DType::kI64,
                  "Tensor: i64 data of a " << dtype_name(dtype_) << " tensor");
    return static_cast<int64_t*>(raw());
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
    CUDARTS_CHECK(defined(), "Tensor::view of an undefined tensor");
    const int64_t n = shape_numel(shape);
    CUDARTS_CHECK(offset >= 0 && offset + n <= numel(),
                  "Tensor::view: " << shape_str(shape) << " at offset " << offset
                                   << " does not fit in " << shape_str(shape_));
    Tensor t = *this;
    t.offset_ = offset_ + offset;
    t.shape_ = shape;
    return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
    CUDARTS_CHECK(shape_numel(shape) == numel(),
                  "Tensor::reshape: " << shape_str(shape_) << " to " << shape_str(shape));
    return view(0, shape);
}

Tensor Tensor::to(Device dev) const {
    if (device() == dev) return *this;
    Tensor t = empty(shape_, dev, dtype_);
    copy_bytes(t.raw(), dev, raw(), device(), nbytes());
    return t;
}

Tensor Tensor::clone() const {
    Tensor t = empty(shape_, device(), dtype_);
    copy_bytes(t.raw(), t.device(), raw(), device(), nbytes());
    return t;
}

template <class T>
static std::vector<T> to_host(const Tensor& t) {
    std::vector<T> v(size_t(t.numel()));
    copy_bytes(v.data(), Device::cpu(), t.raw(), t.device(), t.nbytes());
    return v;
}

std::vector<float> Tensor::to_vector() const {
    f32();  // dtype check
    return to_host<float>(*this);
}
std::vector<int32_t> Tensor::to_vector_i32() const {
    i32();
    return to_host<int32_t>(*this);
}
std::vector<int64_t> Tensor::to_vector_i64() const {
    i64();
    return to_host<int64_t>(*this);
}

float Tensor::item() const {
    CUDARTS_CHECK(numel() == 1, "Tensor::item on shape " << shape_str(shape_));
    return to_vector()[0];
}

void Tensor::copy_(const Tensor& src) const {
    CUDARTS_CHECK(src.numel() == numel() && src.dtype() == dtype_,
                  "Tensor::copy_: " << src << " into " << *this);
    copy_bytes(raw(), device(), src.raw(), src.device(), nbytes());
}

void Tensor::zero_() const { zero_bytes(raw(), device(), nbytes()); }

void Tensor::fill_(float value) const {
    CUDARTS_CHECK(dtype_ == DType::kF32, "Tensor::fill_ on a " << dtype_name(dtype_) << " tensor");
    if (device().is_cpu()) {
        float* p = f32();
        for (int64_t i = 0; i < numel(); ++i) p[i] = value;
        return;
    }
#if CUDARTS_HAS_CUDA
    // A kernel on the default stream, so a fill (the backward's loss seed) makes no host copy and
    // does not wait for the device.
    cuda::fill(f32(), value, numel(), nullptr);
#else
    throw Error("Tensor::fill_ on " + device().str() + ": built without CUDA");
#endif
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
    if (!t.defined()) return os << "Tensor(undefined)";
    return os << "Tensor" << shape_str(t.shape()) << " " << dtype_name(t.dtype()) << " "
              << t.device();
}

void check_same_device(const Tensor& a, const Tensor& b, const char* what) {
    CUDARTS_CHECK(a.device() == b.device(), what << ": tensors on different devices (" << a.device()
                                                 << " and " << b.device() << ")");
}

}  // namespace cudarts
