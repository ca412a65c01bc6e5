// Elementwise ops over flat fp32 arrays on the GPU: the CUDA twins of kernels/cpu/elementwise.cpp,
// formulas in kernels/elementwise.h. Every kernel maps one thread to one element in a grid-stride
// loop, so a grid capped at kMaxGrid blocks covers any n and consecutive threads touch
// consecutive addresses (coalesced 128-byte transactions per warp).
// Traffic per element: 8 B for a unary forward (x in, y out), 12 B for a binary forward and for
// an activation's backward (dy and y in, dx out), 4 B more in accumulate mode (dx is read before
// it is added to); mul_bwd with both outputs moves 20 B (28 B accumulating). Against at most a
// dozen flops per element this is far below the H100's ~60 flop/B balance point, so every kernel
// is bound by DRAM bandwidth, and a transcendental (tanhf, expf) costs nothing visible.
// Precision: tanhf and expf are within 2 ulp of the CPU's libm; nvcc may fuse a * b + c into one
// FMA (axpy, the accumulate modes, tanh'), which rounds once where the CPU rounds twice. relu,
// add, mul, scale, copy and fill in overwrite mode round once, as on the CPU: equal bit for bit.
//   v1  one thread per element, grid-stride, scalar 4-byte accesses (the only version). Loads of
//       float4 would cut the instruction count by 4 but not the bytes, which bound these kernels.
#include <algorithm>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/thread_index.h"
#include "kernels/elementwise.h"

namespace cudarts::cuda {

namespace {

constexpr int kBlock = 256;
// Grid-stride loops need no more blocks than keep every SM busy: 132 SMs on an H100 times 8
// resident blocks of 256 threads is about 1000; 4096 also leaves a tail-free last wave.
constexpr int kMaxGrid = 4096;

int grid_for(int64_t n) { return std::min(blocks_for(n, kBlock), kMaxGrid); }

void check_count(int64_t n, const char* fn) { CUDARTS_CHECK(n >= 0, fn << ": n=" << n); }

// The three activations, each as its forward y = f(x) and its backward dx = f'(x) dy computed from
// the saved output y; one kernel per direction serves all three.
struct Relu {
    // y = max(x, 0), written as the CPU's comparison so that -0 and NaN map the same way.
    __device__ static float fwd(float x) { return x > 0.f ? x : 0.f; }
    // dx = dy where the saved output is positive: the derivative at exactly 0 is 0.
    __device__ static float bwd(float dy, float y) { return y > 0.f ? dy : 0.f; }
};

struct Tanh {
    __device__ static float fwd(float x) { return tanhf(x); }
    // tanh' = 1 - y^2 from the saved output.
    __device__ static float bwd(float dy, float y) { return dy * (1.f - y * y); }
};

struct Sigmoid {
    // 1 / (1 + e^-x): for x << 0 expf overflows to inf and the quotient is exactly 0, as on the
    // CPU.
    __device__ static float fwd(float x) { return 1.f / (1.f + expf(-x)); }
    // sigmoid' = y (1 - y) from the saved output, multiplied in the CPU's order.
    __device__ static float bwd(float dy, float y) { return dy * y * (1.f - y); }
};

template <class Act>
__global__ void __launch_bounds__(kBlock)
    activation_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] = Act::fwd(x[i]);
}

template <class Act>
__global__ void __launch_bounds__(kBlock)
    activation_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy,
                             const float* __restrict__ y, int64_t n, GradMode mode) {
    for (int64_t i = first_index(); i < n; i += grid_stride())
        write_grad(dx[i], Act::bwd(dy[i], y[i]), mode);
}

__global__ void __launch_bounds__(kBlock)
    add_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ a,
                      const float* __restrict__ b, int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] = a[i] + b[i];
}

__global__ void __launch_bounds__(kBlock)
    mul_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ a,
                      const float* __restrict__ b, int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] = a[i] * b[i];
}

// Both gradients in one pass so dy is read once; a null output is skipped (the branch is uniform
// across the grid, so it costs no divergence).
__global__ void __launch_bounds__(kBlock)
    mul_bwd_kernel_v1(float* __restrict__ da, float* __restrict__ db, const float* __restrict__ dy,
                      const float* __restrict__ a, const float* __restrict__ b, int64_t n,
                      GradMode mode_a, GradMode mode_b) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) {
        const float g = dy[i];
        if (da) write_grad(da[i], g * b[i], mode_a);
        if (db) write_grad(db[i], g * a[i], mode_b);
    }
}

__global__ void __launch_bounds__(kBlock)
    scale_fwd_kernel_v1(float* __restrict__ y, const float* __restrict__ x, float alpha,
                        int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] = alpha * x[i];
}

__global__ void __launch_bounds__(kBlock)
    scale_bwd_kernel_v1(float* __restrict__ dx, const float* __restrict__ dy, float alpha,
                        int64_t n, GradMode mode) {
    for (int64_t i = first_index(); i < n; i += grid_stride())
        write_grad(dx[i], alpha * dy[i], mode);
}

__global__ void __launch_bounds__(kBlock)
    axpy_kernel_v1(float* __restrict__ y, float alpha, const float* __restrict__ x, int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] += alpha * x[i];
}

__global__ void __launch_bounds__(kBlock)
    copy_kernel_v1(float* __restrict__ y, const float* __restrict__ x, int64_t n, GradMode mode) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) write_grad(y[i], x[i], mode);
}

__global__ void __launch_bounds__(kBlock)
    fill_kernel_v1(float* __restrict__ y, float value, int64_t n) {
    for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] = value;
}

// What every launcher here does around its launch: checks n, calls launch(grid) with the grid for
// n elements unless n is 0, and checks the launch; fn names the public function in errors.
template <class Launch>
void launch_over(int64_t n, const char* fn, const Launch& launch) {
    check_count(n, fn);
    if (n == 0) return;
    launch(grid_for(n));
    CUDARTS_CHECK_LAUNCH();
}

// The launchers of activation Act.
template <class Act>
void activation_fwd(float* y, const float* x, int64_t n, const char* fn, Stream st) {
    launch_over(n, fn,
                [&](int grid) { activation_fwd_kernel_v1<Act><<<grid, kBlock, 0, st>>>(y, x, n); });
}

template <class Act>
void activation_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode,
                    const char* fn, Stream st) {
    launch_over(n, fn, [&](int grid) {
        activation_bwd_kernel_v1<Act><<<grid, kBlock, 0, st>>>(dx, dy, y, n, mode);
    });
}

}  // namespace

void relu_fwd(float* y, const float* x, int64_t n, Stream st) {
    activation_fwd<Relu>(y, x, n, "relu_fwd", st);
}

void relu_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode, Stream st) {
    activation_bwd<Relu>(dx, dy, y, n, mode, "relu_bwd", st);
}

void tanh_fwd(float* y, const float* x, int64_t n, Stream st) {
    activation_fwd<Tanh>(y, x, n, "tanh_fwd", st);
}

void tanh_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode, Stream st) {
    activation_bwd<Tanh>(dx, dy, y, n, mode, "tanh_bwd", st);
}

void sigmoid_fwd(float* y, const float* x, int64_t n, Stream st) {
    activation_fwd<Sigmoid>(y, x, n, "sigmoid_fwd", st);
}

void sigmoid_bwd(float* dx, const float* dy, const float* y, int64_t n, GradMode mode, Stream st) {
    activation_bwd<Sigmoid>(dx, dy, y, n, mode, "sigmoid_bwd", st);
}

void add_fwd(float* y, const float* a, const float* b, int64_t n, Stream st) {
    launch_over(n, "add_fwd",
                [&](int grid) { add_fwd_kernel_v1<<<grid, kBlock, 0, st>>>(y, a, b, n); });
}

void mul_fwd(float* y, const float* a, const float* b, int64_t n, Stream st) {
    launch_over(n, "mul_fwd",
                [&](int grid) { mul_fwd_kernel_v1<<<grid, kBlock, 0, st>>>(y, a, b, n); });
}

void mul_bwd(float* da, float* db, const float* dy, const float* a, const float* b, int64_t n,
             GradMode mode_a, GradMode mode_b, Stream st) {
    check_count(n, "mul_bwd");
    if (n == 0 || (!da && !db)) return;
    mul_bwd_kernel_v1<<<grid_for(n), kBlock, 0, st>>>(da, db, dy, a, b, n, mode_a, mode_b);
    CUDARTS_CHECK_LAUNCH();
}

void scale_fwd(float* y, const float* x, float alpha, int64_t n, Stream st) {
    launch_over(n, "scale_fwd",
                [&](int grid) { scale_fwd_kernel_v1<<<grid, kBlock, 0, st>>>(y, x, alpha, n); });
}

void scale_bwd(float* dx, const float* dy, float alpha, int64_t n, GradMode mode, Stream st) {
    launch_over(n, "scale_bwd", [&](int grid) {
        scale_bwd_kernel_v1<<<grid, kBlock, 0, st>>>(dx, dy, alpha, n, mode);
    });
}

void axpy(float* y, float alpha, const float* x, int64_t n, Stream st) {
    launch_over(n, "axpy",
                [&](int grid) { axpy_kernel_v1<<<grid, kBlock, 0, st>>>(y, alpha, x, n); });
}

void copy(float* y, const float* x, int64_t n, GradMode mode, Stream st) {
    launch_over(n, "copy",
                [&](int grid) { copy_kernel_v1<<<grid, kBlock, 0, st>>>(y, x, n, mode); });
}

void fill(float* y, float value, int64_t n, Stream st) {
    launch_over(n, "fill", [&](int grid) { fill_kernel_v1<<<grid, kBlock, 0, st>>>(y, value, n); });
}

}  // namespace cudarts::cuda
