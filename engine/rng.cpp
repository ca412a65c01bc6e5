// Generator fills: pick the backend from the tensor's device, then advance the stream offset.
#include "engine/rng.h"

#include "kernels/check.h"
#include "kernels/philox.h"
#include "kernels/rng.h"

namespace cudarts {

namespace {
void check_f32(const Tensor& t, const char* what) {
    CUDARTS_CHECK(t.defined() && t.dtype() == DType::kF32, what << ": needs a defined f32 tensor");
}
#if !CUDARTS_HAS_CUDA
[[noreturn]] void no_cuda(const char* what) {
    throw Error(std::string(what) + ": CUDA tensor in a build without CUDA");
}
#endif
}  // namespace

// Fills t with cpu::fn(args...) or, for a CUDA tensor, with cuda::fn(args...) on the default
// stream; in a build without CUDA a CUDA tensor throws instead, naming the fill `what`.
#if CUDARTS_HAS_CUDA
#define CUDARTS_CUDA_FILL(what, fn, ...) cuda::fn(__VA_ARGS__, nullptr)
#else
#define CUDARTS_CUDA_FILL(what, fn, ...) no_cuda(what)
#endif
#define CUDARTS_FILL(t, what, fn, ...)                \
    do {                                              \
        if ((t).device().is_cpu())                    \
            cpu::fn(__VA_ARGS__);                     \
        else                                          \
            CUDARTS_CUDA_FILL(what, fn, __VA_ARGS__); \
    } while (0)

void Generator::uniform_(Tensor& t, float lo, float hi) {
    const char* what = "Generator::uniform_";
    check_f32(t, what);
    CUDARTS_FILL(t, what, rng_uniform, t.f32(), t.numel(), lo, hi, seed_, offset_);
    ++offset_;
}

void Generator::normal_(Tensor& t, float mean, float stddev) {
    const char* what = "Generator::normal_";
    check_f32(t, what);
    CUDARTS_FILL(t, what, rng_normal, t.f32(), t.numel(), mean, stddev, seed_, offset_);
    ++offset_;
}

void Generator::dropout_mask_(Tensor& t, float p) {
    const char* what = "Generator::dropout_mask_";
    check_f32(t, what);
    CUDARTS_CHECK(p >= 0.f && p < 1.f, what << ": p = " << p << " not in [0, 1)");
    CUDARTS_FILL(t, what, dropout_mask, t.f32(), t.numel(), p, seed_, offset_);
    ++offset_;
}

uint64_t Generator::next_u64() {
    const philox::U32x4 b = philox::block(seed_, offset_, 0);
    ++offset_;
    return (uint64_t(b.v[0]) << 32) | b.v[1];
}

uint64_t Generator::below(uint64_t n) {
    CUDARTS_CHECK(n > 0, "Generator::below(0)");
    return next_u64() % n;  // bias < n / 2^64: negligible for every n we draw from
}

}  // namespace cudarts
