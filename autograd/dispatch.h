// Backend selection for the autograd ops: a Tensor's device picks the kernel namespace.
// Until the CUDA kernels of issue #4 are registered here, a CUDA tensor reaching an op throws a
// clear Error instead of silently copying to the host (DESIGN decision 1: no silent copies).
#pragma once

#include "autograd/var.h"
#include "kernels/check.h"

namespace cudarts::detail {

[[noreturn]] inline void no_cuda_kernel(const char* op) {
    throw Error(std::string(op) + ": no CUDA kernel for this op in this build; use --device cpu");
}

// Every input of an op must be on one device; returns it.
inline Device op_device(const char* op, std::initializer_list<const Var*> vars) {
    const Var* first = nullptr;
    for (const Var* v : vars) {
        if (!v->defined()) continue;
        if (!first) {
            first = v;
            continue;
        }
        CUDARTS_CHECK(v->device() == first->device(),
                      op << ": inputs on different devices (" << first->device() << " and "
                         << v->device() << ")");
    }
    CUDARTS_CHECK(first, op << ": no defined input");
    return first->device();
}

inline Var new_output(const Shape& shape, Device dev) {
    return Var(Tensor::empty(shape, dev));
}

}  // namespace cudarts::detail

// Calls cpu::fn(args...) for CPU tensors; CUDA tensors throw until their kernels exist.
#define CUDARTS_DISPATCH(dev, fn, ...)                                  \
    do {                                                                \
        if ((dev).is_cpu())                                             \
            ::cudarts::cpu::fn(__VA_ARGS__);                            \
        else                                                            \
            ::cudarts::detail::no_cuda_kernel(#fn);                     \
    } while (0)
