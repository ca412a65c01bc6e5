// Backend selection for the autograd ops: a Tensor's device picks the kernel namespace. The
// cuda:: twins take the same arguments plus the stream, so one macro serves every op. In a build
// without CUDA a CUDA tensor cannot exist; reaching the branch anyway throws (no silent copies,
// DESIGN decision 1).
#pragma once

#include <vector>

#include "autograd/var.h"
#include "kernels/check.h"

namespace cudarts::detail {

[[noreturn]] inline void no_cuda_kernel(const char* op) {
    throw Error(std::string(op) + ": CUDA tensor in a build without CUDA");
}

// The stream every op launches on: the legacy default stream for now (one stream per run; the
// CUDA-graph capture of a whole step will give each run its own).
inline Stream op_stream(Device) { return nullptr; }

// Every input of an op must be on one device; returns it.
inline Device op_device(const char* op, std::initializer_list<const Var*> vars) {
    const Var* first = nullptr;
    for (const Var* v : vars) {
        if (!v->defined()) continue;
        if (!first) {
            first = v;
            continue;
        }
        CUDARTS_CHECK(v->device() == first->device(), op << ": inputs on different devices ("
                                                         << first->device() << " and "
                                                         << v->device() << ")");
    }
    CUDARTS_CHECK(first, op << ": no defined input");
    return first->device();
}

// The items of a group backward split into rounds whose items write distinct outputs (out(item)):
// a value given twice gets its gradients in two launches, in order, so that the later one
// accumulates onto the earlier instead of racing it in one launch.
template <class Item, class Out>
std::vector<std::vector<Item>> distinct_rounds(const std::vector<Item>& items, const Out& out) {
    std::vector<std::vector<Item>> rounds;
    for (const Item& item : items) {
        size_t r = 0;
        for (; r < rounds.size(); ++r) {
            bool taken = false;
            for (const Item& other : rounds[r]) taken = taken || out(other) == out(item);
            if (!taken) break;
        }
        if (r == rounds.size()) rounds.emplace_back();
        rounds[r].push_back(item);
    }
    return rounds;
}

inline Var new_output(const Shape& shape, Device dev) { return Var(Tensor::empty(shape, dev)); }

}  // namespace cudarts::detail

// Calls cpu::fn(args...) for CPU tensors and cuda::fn(args..., stream) for CUDA tensors.
#if CUDARTS_HAS_CUDA
#define CUDARTS_DISPATCH(dev, fn, ...)                                           \
    do {                                                                         \
        if ((dev).is_cpu())                                                      \
            ::cudarts::cpu::fn(__VA_ARGS__);                                     \
        else                                                                     \
            ::cudarts::cuda::fn(__VA_ARGS__, ::cudarts::detail::op_stream(dev)); \
    } while (0)
// For kernels whose CUDA twin has a different signature (losses write to device memory).
#define CUDARTS_CUDA_CALL(dev, fn, ...) \
    ::cudarts::cuda::fn(__VA_ARGS__, ::cudarts::detail::op_stream(dev))
#else
#define CUDARTS_CUDA_CALL(dev, fn, ...) ::cudarts::detail::no_cuda_kernel(#fn)
#define CUDARTS_DISPATCH(dev, fn, ...)              \
    do {                                            \
        if ((dev).is_cpu())                         \
            ::cudarts::cpu::fn(__VA_ARGS__);        \
        else                                        \
            ::cudarts::detail::no_cuda_kernel(#fn); \
    } while (0)
#endif
