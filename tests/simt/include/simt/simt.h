// The SIMT emulator's forced-include header: every kernels/cuda/*.cu is compiled as C++ with this
// header included first (g++ -include), after tests/simt/rewrite.cpp has turned its launches into
// ::simt::launch calls. It maps the CUDA keywords to C++, gives each emulated thread its
// threadIdx/blockIdx through the runtime (tests/simt/runtime.cpp), and declares the barriers and
// warp collectives, each taking the caller's source location so that a report names the line.
// Each CUDA thread is a fiber and a block runs on one OS thread, so `__shared__` is
// thread-local storage of that OS thread; dynamic shared memory is a per-block buffer of exactly
// the launch's size, filled with NaN.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __grid_constant__
#define __launch_bounds__(...)
#define __cluster_dims__(...)
#define __shared__ static thread_local

namespace simt {

using Loc = std::source_location;

struct Site {
    const char* file;
    int line;
};

// What a kernel's definition says about its launches: __launch_bounds__ (0: none) and
// __cluster_dims__ (1, 1, 1: none).
struct KernelAttrs {
    int max_threads;
    dim3 cluster;
};

struct LaunchSpec {
    Site site;
    KernelAttrs attrs;
    const char* name;
    const void* func;
    dim3 grid, block;
    size_t smem;
};

// The parts of the running thread and block that kernel code reads directly.
struct ThreadCtx {
    uint3 idx;
    int tid;  // linear index in the block
};
struct BlockCtx {
    uint3 idx;
    dim3 block_dim, grid_dim;
    unsigned char* smem;
    size_t smem_bytes;
};
inline thread_local constinit ThreadCtx* t_thread = nullptr;
inline thread_local constinit BlockCtx* t_block = nullptr;

enum class Op : uint8_t {
    kSyncThreads,
    kSyncThreadsOr,
    kSyncThreadsAnd,
    kSyncThreadsCount,
    kClusterSync,
    kSyncWarp,
    kShfl,
    kShflUp,
    kShflDown,
    kShflXor,
    kBallot,
    kAny,
    kAll,
    kReduceAdd,
};

// Runtime entry points (tests/simt/runtime.cpp).
void run_grid(const LaunchSpec& spec, void (*body)(void*), void* ctx);
int sync_block(Op op, int pred, Loc loc);
uint64_t warp_collective(Op op, unsigned mask, uint64_t value, int arg, int width, Loc loc);
unsigned cluster_rank();
unsigned cluster_size();
void* map_shared_rank(void* p, unsigned rank, Loc loc);
// Reports a misuse found by emulator code (cub, cooperative groups) and aborts the grid.
[[noreturn]] void fail(const char* what, Loc loc);

template <class T>
T* dynamic_smem() {
    return reinterpret_cast<T*>(t_block->smem);
}

// What a collective returns where the hardware's result is undefined (a lane outside the mask).
template <class T>
T poison() {
    if constexpr (std::is_floating_point_v<T>)
        return std::numeric_limits<T>::quiet_NaN();
    else
        return std::numeric_limits<T>::min();
}

template <class T>
uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>);
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T>
T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

// `kernel<<<grid, block, smem, stream>>>(args)` after the rewrite: the arguments are copied into
// the parameters once, as the hardware does, and every thread calls the kernel with them.
template <class... P>
class Launch {
public:
    Launch(const LaunchSpec& spec, void (*kernel)(P...)) : spec_(spec), kernel_(kernel) {}

    template <class... A>
    void operator()(A&&... args) const {
        static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong arity");
        using Params = std::tuple<std::decay_t<P>...>;
        struct Body {
            void (*kernel)(P...);
            Params* params;
        };
        Params params(std::forward<A>(args)...);
        Body body{kernel_, &params};
        run_grid(
            spec_,
            [](void* c) {
                Body* b = static_cast<Body*>(c);
                std::apply(b->kernel, *b->params);
            },
            &body);
    }

private:
    LaunchSpec spec_;
    void (*kernel_)(P...);
};

template <class... P>
Launch<P...> launch(Site site, KernelAttrs attrs, const char* name, void (*kernel)(P...), dim3 grid,
                    dim3 block, size_t smem = 0, cudaStream_t = nullptr) {
    return Launch<P...>(
        LaunchSpec{site, attrs, name, reinterpret_cast<const void*>(kernel), grid, block, smem},
        kernel);
}

}  // namespace simt

#define threadIdx (::simt::t_thread->idx)
#define blockIdx (::simt::t_block->idx)
#define blockDim (::simt::t_block->block_dim)
#define gridDim (::simt::t_block->grid_dim)
constexpr int warpSize = 32;

// Barriers: complete when every live thread of the block has arrived at the same one.
inline void __syncthreads(simt::Loc loc = simt::Loc::current()) {
    simt::sync_block(simt::Op::kSyncThreads, 0, loc);
}
inline int __syncthreads_or(int pred, simt::Loc loc = simt::Loc::current()) {
    return simt::sync_block(simt::Op::kSyncThreadsOr, pred, loc);
}
inline int __syncthreads_and(int pred, simt::Loc loc = simt::Loc::current()) {
    return simt::sync_block(simt::Op::kSyncThreadsAnd, pred, loc);
}
inline int __syncthreads_count(int pred, simt::Loc loc = simt::Loc::current()) {
    return simt::sync_block(simt::Op::kSyncThreadsCount, pred, loc);
}

// Warp collectives: complete when every lane of the mask has arrived with the same op and mask.
inline void __syncwarp(unsigned mask = 0xffffffffu, simt::Loc loc = simt::Loc::current()) {
    simt::warp_collective(simt::Op::kSyncWarp, mask, 0, 0, 32, loc);
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32, simt::Loc loc = simt::Loc::current()) {
    return simt::from_bits<T>(
        simt::warp_collective(simt::Op::kShfl, mask, simt::to_bits(v), src, width, loc));
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32,
                 simt::Loc loc = simt::Loc::current()) {
    return simt::from_bits<T>(
        simt::warp_collective(simt::Op::kShflUp, mask, simt::to_bits(v), int(delta), width, loc));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32,
                   simt::Loc loc = simt::Loc::current()) {
    return simt::from_bits<T>(
        simt::warp_collective(simt::Op::kShflDown, mask, simt::to_bits(v), int(delta), width, loc));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32,
                  simt::Loc loc = simt::Loc::current()) {
    return simt::from_bits<T>(
        simt::warp_collective(simt::Op::kShflXor, mask, simt::to_bits(v), lane_mask, width, loc));
}
inline unsigned __ballot_sync(unsigned mask, int pred, simt::Loc loc = simt::Loc::current()) {
    return unsigned(simt::warp_collective(simt::Op::kBallot, mask, pred != 0, 0, 32, loc));
}
inline int __any_sync(unsigned mask, int pred, simt::Loc loc = simt::Loc::current()) {
    return int(simt::warp_collective(simt::Op::kAny, mask, pred != 0, 0, 32, loc));
}
inline int __all_sync(unsigned mask, int pred, simt::Loc loc = simt::Loc::current()) {
    return int(simt::warp_collective(simt::Op::kAll, mask, pred != 0, 0, 32, loc));
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v, simt::Loc loc = simt::Loc::current()) {
    return unsigned(simt::warp_collective(simt::Op::kReduceAdd, mask, v, 0, 32, loc));
}
inline int __reduce_add_sync(unsigned mask, int v, simt::Loc loc = simt::Loc::current()) {
    return int(unsigned(
        simt::warp_collective(simt::Op::kReduceAdd, mask, uint64_t(unsigned(v)), 0, 32, loc)));
}

// Device arithmetic. The emulated kernels are compiled with -ffp-contract=off, so each of these
// rounds once, as the _rn intrinsics promise.
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __int_as_float(int v) { return simt::from_bits<float>(uint64_t(uint32_t(v))); }
inline int __float_as_int(float v) { return int(uint32_t(simt::to_bits(v))); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max(int64_t a, int64_t b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
using std::isfinite;
using std::isinf;
using std::isnan;
