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

void Generator::uniform_(Tensor& t, float lo, float hi) {
    check_f32(t, "Generator::uniform_");
    if (t.device().is_cpu()) {
        cpu::rng_uniform(t.f32(), t.numel(), lo, hi, seed_, offset_);
    } else {
#if CUDARTS_HAS_CUDA
        cuda::rng_uniform(t.f32(), t.numel(), lo, hi, seed_, offset_, nullptr);
#else
        no_cuda("Generator::uniform_");
#endif
    }
    ++offset_;
}

void Generator::normal_(Tensor& t, float mean, float stddev) {
    check_f32(t, "Generator::normal_");
    if (t.device().is_cpu()) {
        cpu::rng_normal(t.f32(), t.numel(), mean, stddev, seed_, offset_);
    } else {
#if CUDARTS_HAS_CUDA
        cuda::rng_normal(t.f32(), t.numel(), mean, stddev, seed_, offset_, nullptr);
#else
        no_cuda("Generator::normal_");
#endif
    }
    ++offset_;
}

void Generator::dropout_mask_(Tensor& t, float p) {
    check_f32(t, "Generator::dropout_mask_");
    CUDARTS_CHECK(p >= 0.f && p < 1.f, "Generator::dropout_mask_: p = " << p << " not in [0, 1)");
    if (t.device().is_cpu()) {
        cpu::dropout_mask(t.f32(), t.numel(), p, seed_, offset_);
    } else {
#if CUDARTS_HAS_CUDA
        cuda::dropout_mask(t.f32(), t.numel(), p, seed_, offset_, nullptr);
#else
        no_cuda("Generator::dropout_mask_");
#endif
    }
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
