// The SIMT emulator's own tests (suite simt, built only with CUDARTS_SIMT): planted kernel bugs
// (a skipped barrier, an out-of-bounds shared-memory write, a bad shuffle mask, mismatched
// collectives, a deadlock) must each be reported with the source line, and the positive checks
// (a shuffle block reduction, NaN-filled dynamic shared memory, a thread-block cluster, the launch
// limits, cuBLAS's argument checks) must hold. Compiled like kernels/cuda/*.cu: rewritten by
// simt_rewrite and built with the forced-include header.
#include <cooperative_groups.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

namespace cg = cooperative_groups;

constexpr unsigned kFull = 0xffffffffu;

// A device buffer of n floats, copied back with host().
struct Buf {
    explicit Buf(size_t n) : n(n) { REQUIRE(cudaMalloc(reinterpret_cast<void**>(&p), n * 4) == 0); }
    ~Buf() { cudaFree(p); }
    std::vector<float> host() const {
        std::vector<float> h(n);
        REQUIRE(cudaMemcpy(h.data(), p, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
        return h;
    }
    float* p = nullptr;
    size_t n;
};

// The launch's error and its text (empty when it succeeded); clears the error.
std::string launch_error() {
    const cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? std::string() : std::string(cudaGetErrorString(e));
}

std::string at_line(int line) { return "test_simt.cu:" + std::to_string(line); }

// Checks that the error text e names every one of parts (messages, kernel names, source lines).
void check_names_all(const std::string& e, std::initializer_list<std::string> parts) {
    for (const std::string& part : parts) {
        CAPTURE(part);
        CHECK(e.find(part) != std::string::npos);
    }
}

// ---- planted bugs ----------------------------------------------------------------------------

constexpr int kSkippedBarrierLine = __LINE__ + 6;
__global__ void skipped_barrier_kernel(float* out) {
    __shared__ float buf[64];
    const int t = int(threadIdx.x);
    buf[t] = float(t);
    // The planted bug: the upper half skips the barrier that publishes buf.
    if (t < 32) __syncthreads();
    __syncthreads();
    out[t] = buf[63 - t];
}

// The missing barrier as a race: thread t reads what thread 63 - t wrote, without a barrier in
// between. Dynamic shared memory starts as NaN, so a read that comes first shows.
__global__ void racy_reverse_kernel(float* out, bool with_barrier) {
    extern __shared__ float buf[];
    const int t = int(threadIdx.x);
    buf[t] = float(t);
    if (with_barrier) __syncthreads();
    out[t] = buf[63 - t];
}

// The planted bug: thread 63 writes one float past the 64 of the launch.
__global__ void smem_overrun_kernel(float* out) {
    extern __shared__ float buf[];
    const int t = int(threadIdx.x);
    buf[t + 1] = float(t);
    out[t] = 0.f;
}

// The planted bug: the upper half-warp has exited when the lower one shuffles over all 32 lanes.
constexpr int kBadMaskLine = __LINE__ + 5;
__global__ void bad_mask_kernel(float* out) {
    const int lane = int(threadIdx.x);
    if (lane >= 16) return;
    float v = float(lane);
    v += __shfl_xor_sync(kFull, v, 1);
    out[lane] = v;
}

constexpr int kMismatchLine = __LINE__ + 5;
__global__ void mismatched_collective_kernel(float* out) {
    const int lane = int(threadIdx.x);
    float v = float(lane);
    if (lane < 16)
        v = __shfl_xor_sync(kFull, v, 1);
    else
        v = float(__ballot_sync(kFull, lane > 20));
    out[lane] = v;
}

// Lane 0 waits at a block barrier while the other lanes wait for it in a shuffle.
__global__ void deadlock_kernel(float* out) {
    const int lane = int(threadIdx.x);
    float v = float(lane);
    if (lane == 0)
        __syncthreads();
    else
        v = __shfl_xor_sync(kFull, v, 1);
    out[lane] = v;
}

// ---- positive checks -------------------------------------------------------------------------

// The sum of v over 256 threads: a shuffle butterfly per warp, the warp sums through shared
// memory, then a shuffle over the eight warp sums in warp 0.
__global__ void __launch_bounds__(256) block_sum_kernel(float* out, const float* in) {
    __shared__ float warp_sums[8];
    const int t = int(threadIdx.x), lane = t % 32, warp = t / 32;
    float v = in[blockIdx.x * 256 + t];
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(kFull, v, o);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp != 0) return;
    float s = lane < 8 ? warp_sums[lane] : 0.f;
    for (int o = 4; o > 0; o /= 2) s += __shfl_down_sync(kFull, s, o);
    const unsigned any_big = __ballot_sync(kFull, s > 1e30f);
    if (lane == 0) out[blockIdx.x] = any_big ? -1.f : s;
}

__global__ void copy_smem_kernel(float* out) {
    extern __shared__ float buf[];
    out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void __launch_bounds__(64) bounded_kernel(float* out) { out[threadIdx.x] = 1.f; }

__global__ void big_smem_kernel(float* out) {
    extern __shared__ float buf[];
    buf[threadIdx.x] = 2.f;
    __syncthreads();
    out[threadIdx.x] = buf[threadIdx.x];
}

// Each block of a 4-block cluster publishes its rank; rank 0 sums them over distributed shared
// memory; the second cluster.sync keeps the others alive while it reads.
__global__ void __cluster_dims__(4, 1, 1) cluster_sum_kernel(float* out) {
    __shared__ float mine;
    const cg::cluster_group cluster = cg::this_cluster();
    if (threadIdx.x == 0) mine = float(cluster.block_rank() + 1);
    cluster.sync();
    if (cluster.block_rank() == 0 && threadIdx.x == 0) {
        float s = 0.f;
        for (unsigned r = 0; r < cluster.num_blocks(); ++r) s += *cluster.map_shared_rank(&mine, r);
        out[blockIdx.x / 4] = s;
    }
    cluster.sync();
}

}  // namespace

TEST_SUITE("simt") {
    TEST_CASE("a barrier skipped by part of the block is reported with both lines") {
        Buf out(64);
        skipped_barrier_kernel<<<1, 64>>>(out.p);
        check_names_all(launch_error(),
                        {"barrier mismatch", at_line(kSkippedBarrierLine),
                         at_line(kSkippedBarrierLine + 1), "skipped_barrier_kernel"});
    }

    TEST_CASE("a missing barrier reads NaN from unwritten shared memory") {
        Buf out(64);
        racy_reverse_kernel<<<1, 64, 64 * sizeof(float)>>>(out.p, false);
        REQUIRE(launch_error().empty());
        int nans = 0;
        for (float v : out.host()) nans += std::isnan(v) ? 1 : 0;
        // Whichever thread runs first reads a slot its partner has not written yet.
        CHECK(nans > 0);
        racy_reverse_kernel<<<1, 64, 64 * sizeof(float)>>>(out.p, true);
        REQUIRE(launch_error().empty());
        const std::vector<float> h = out.host();
        for (int t = 0; t < 64; ++t) CHECK(h[size_t(t)] == float(63 - t));
    }

    TEST_CASE("a dynamic shared memory overrun is reported") {
        Buf out(64);
        smem_overrun_kernel<<<1, 64, 64 * sizeof(float)>>>(out.p);
        check_names_all(launch_error(),
                        {"dynamic shared memory written out of bounds: byte 256 of a 256-byte",
                         "smem_overrun_kernel"});
    }

    TEST_CASE("a shuffle mask naming exited lanes is reported with its line") {
        Buf out(32);
        bad_mask_kernel<<<1, 32>>>(out.p);
        check_names_all(launch_error(),
                        {"unspecified launch failure", "__shfl_xor_sync with mask 0xffffffff at",
                         at_line(kBadMaskLine), "exited"});
    }

    TEST_CASE("a mask naming lanes beyond the block is reported") {
        Buf out(32);
        bad_mask_kernel<<<1, 16>>>(out.p);
        check_names_all(launch_error(), {"which does not exist in a block of 16 threads"});
    }

    TEST_CASE("mismatched warp collectives are reported") {
        Buf out(32);
        mismatched_collective_kernel<<<1, 32>>>(out.p);
        check_names_all(launch_error(), {"mismatched collectives", at_line(kMismatchLine),
                                         at_line(kMismatchLine + 2)});
    }

    TEST_CASE("a deadlock is reported with what each thread waits in") {
        Buf out(32);
        deadlock_kernel<<<1, 32>>>(out.p);
        check_names_all(launch_error(), {"deadlock: 32 of 32 threads", "1 in __syncthreads",
                                         "31 in __shfl_xor_sync mask 0xffffffff"});
    }

    TEST_CASE("the error is cleared by cudaGetLastError and the next launch runs") {
        Buf out(32);
        deadlock_kernel<<<1, 32>>>(out.p);
        CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
        CHECK(cudaGetLastError() == cudaSuccess);
        bounded_kernel<<<1, 32>>>(out.p);
        CHECK(launch_error().empty());
        CHECK(out.host()[31] == 1.f);
    }

    TEST_CASE("a block reduction with shuffles, barriers and a ballot") {
        const int blocks = 3;
        std::vector<float> in(size_t(blocks) * 256);
        for (size_t i = 0; i < in.size(); ++i) in[i] = float(i % 97);
        Buf d_in(in.size()), out(static_cast<size_t>(blocks));
        REQUIRE(cudaMemcpy(d_in.p, in.data(), in.size() * 4, cudaMemcpyHostToDevice) == 0);
        block_sum_kernel<<<blocks, 256>>>(out.p, d_in.p);
        REQUIRE(launch_error().empty());
        const std::vector<float> h = out.host();
        for (int b = 0; b < blocks; ++b) {
            double want = 0;
            for (int t = 0; t < 256; ++t) want += in[size_t(b) * 256 + size_t(t)];
            CHECK(h[size_t(b)] == float(want));  // small integers: exact in any order
        }
    }

    TEST_CASE("dynamic shared memory and cudaMalloc memory start as NaN") {
        Buf out(100);
        for (float v : out.host()) CHECK(std::isnan(v));
        REQUIRE(cudaMemset(out.p, 0, 400) == cudaSuccess);
        copy_smem_kernel<<<1, 100, 100 * sizeof(float)>>>(out.p);
        REQUIRE(launch_error().empty());
        for (float v : out.host()) CHECK(std::isnan(v));
    }

    TEST_CASE("a thread-block cluster sums over distributed shared memory") {
        Buf out(2);
        cluster_sum_kernel<<<8, 64>>>(out.p);
        REQUIRE(launch_error().empty());
        const std::vector<float> h = out.host();
        CHECK(h[0] == 10.f);
        CHECK(h[1] == 10.f);
    }

    TEST_CASE("launches outside the hardware's limits fail as on the device") {
        Buf out(2048);
        bounded_kernel<<<1, 1025>>>(out.p);
        CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
        bounded_kernel<<<1, dim3(1, 1, 65)>>>(out.p);
        check_names_all(launch_error(), {"invalid configuration argument", "outside the limits"});
        bounded_kernel<<<dim3(1, 65536), 32>>>(out.p);
        CHECK(launch_error().find("grid (1,65536,1) outside the limits") != std::string::npos);
        bounded_kernel<<<1, 128>>>(out.p);
        check_names_all(launch_error(), {"too many resources requested for launch",
                                         "exceeds __launch_bounds__(64)"});
        cluster_sum_kernel<<<6, 32>>>(out.p);
        CHECK(launch_error().find("not divisible by the cluster (4,1,1)") != std::string::npos);
    }

    TEST_CASE("more than 48 KiB of dynamic shared memory needs the opt-in") {
        Buf out(64);
        const size_t bytes = 48 * 1024 + 4;
        big_smem_kernel<<<1, 64, bytes>>>(out.p);
        CHECK(launch_error().find("49156 bytes of dynamic shared memory exceed the 49152") !=
              std::string::npos);
        REQUIRE(cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     int(bytes)) == cudaSuccess);
        big_smem_kernel<<<1, 64, bytes>>>(out.p);
        REQUIRE(launch_error().empty());
        CHECK(out.host()[63] == 2.f);
    }

    TEST_CASE("cuBLAS: a column-major product and the argument checks") {
        cublasHandle_t h = nullptr;
        REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
        // A 2x3, B 3x2, column-major; C = A B.
        const std::vector<float> a = {1, 4, 2, 5, 3, 6}, b = {7, 9, 11, 8, 10, 12};
        Buf da(6), db(6), dc(4);
        REQUIRE(cudaMemcpy(da.p, a.data(), 24, cudaMemcpyHostToDevice) == 0);
        REQUIRE(cudaMemcpy(db.p, b.data(), 24, cudaMemcpyHostToDevice) == 0);
        const float one = 1.f, zero = 0.f;
        // beta = 0: C (poisoned NaN) is not read.
        REQUIRE(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, da.p, 2, db.p, 3, &zero,
                            dc.p, 2) == CUBLAS_STATUS_SUCCESS);
        CHECK(dc.host() == std::vector<float>{58, 139, 64, 154});
        CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, da.p, 1, db.p, 3, &zero, dc.p,
                          2) == CUBLAS_STATUS_INVALID_VALUE);
        CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 2, 3, &one, da.p, 2, db.p, 3, &zero,
                          dc.p, 2) == CUBLAS_STATUS_INVALID_VALUE);
        CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, da.p, 2, 0,
                                        db.p, 3, 0, &zero, dc.p, 2, 0,
                                        -1) == CUBLAS_STATUS_INVALID_VALUE);
        CHECK(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, da.p, 2, db.p, 3, &zero,
                          dc.p, 2) == CUBLAS_STATUS_NOT_INITIALIZED);
        CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
    }
}
