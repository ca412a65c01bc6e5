// The runtime counters on the CUDA backend (engine/counters.h), in the SIMT emulator or on a GPU:
// each wrapper counts its own event exactly once (an allocation that misses the cache, a launch,
// a GEMM, an upload, a download, the bytes in use), and a small search step of either order, once
// the first step has filled the caching allocator, allocates no device memory and issues the same
// work every step, its launches below a bound a little above the measured counts (476 a
// first-order step, 1,253 a second-order one since the cell groups its norms and depthwise convs,
// fuses the separable convs' inner ReLU into the norms and reads its softmax weights in place,
// SIMT emulator, 2026-12-04; 915 and 2,381 before; lower them as launches are fused away). The same
// steps on the CPU give the same training losses and count nothing.
#if CUDARTS_HAS_CUDA

#include <cstdlib>
#include <string>

#include "bench/step_bench.h"
#include "engine/counters.h"
#include "engine/device_buffer.h"
#include "engine/memory.h"
#include "engine/tensor.h"
#include "kernels/cuda/blas.h"
#include "kernels/elementwise.h"
#include "tests/train_cases.h"
#include "tests/util.h"

using namespace cudarts;

namespace {

// The counts of what `f` does on the device.
template <class F>
RuntimeCounters counted(const F& f) {
    const RuntimeCounters before = runtime_counters();
    f();
    return counters_since(before, runtime_counters());
}

// A search step at tiny shapes (tests/train_cases.h), so that the emulator runs three in seconds:
// one warm-up step, then two timed ones.
bench::StepBenchOptions tiny_step(Device dev, bool second_order) {
    bench::StepBenchOptions o = test::tiny_step_bench(dev, 2);
    o.second_order = second_order;
    o.seed = 5;
    return o;
}

// The launch bounds, a little above the measured counts.
constexpr int64_t kFirstOrderLaunches = 460, kSecondOrderLaunches = 1180;

}  // namespace

TEST_SUITE("cuda_step_counts") {
    TEST_CASE("cuda counters: each runtime wrapper counts its event once") {
        const Device gpu = Device::cuda();
        CachingAllocator::instance().release_cached();  // so the next request must cudaMalloc
        const int64_t base = runtime_counters().bytes_in_use;
        {
            Tensor t;
            RuntimeCounters c = counted([&] { t = Tensor::empty({1000}, gpu); });
            CHECK(c.device_allocs == 1);
            CHECK(c.h2d_copies == 0);
            CHECK(c.bytes_in_use == base + 4096);  // 4000 bytes in a 512-byte granule block
            CHECK(c.peak_bytes >= base + 4096);

            c = counted([&] { cuda::fill(t.f32(), 1.5f, 1000, nullptr); });
            CHECK(c.launches == 1);
            CHECK(c.blas_calls == 0);
            CHECK(c.host_syncs == 0);

            std::vector<float> host;
            c = counted([&] { host = t.to_vector(); });
            CHECK(c.host_syncs == 1);
            CHECK(c.launches == 0);
            CHECK(host[999] == 1.5f);

            c = counted([&] { t.copy_(Tensor::from_vector(host, {1000}, Device::cpu())); });
            CHECK(c.h2d_copies == 1);
            CHECK(c.host_syncs == 0);
            CHECK(c.device_allocs == 0);

            // Row-major (2 x 3) = (2 x 4)(4 x 3): one cuBLAS call, the handle's setup uncounted.
            const DeviceBuffer a = DeviceBuffer::from_host(gpu, std::vector<float>(8, 1.f));
            const DeviceBuffer b = DeviceBuffer::from_host(gpu, std::vector<float>(12, 2.f));
            DeviceBuffer out(gpu, 6 * sizeof(float));
            c = counted([&] {
                cuda::gemm_rm(false, false, 2, 3, 4, a.as<float>(), 4, b.as<float>(), 3,
                              GradMode::kOverwrite, out.as<float>(), 3, nullptr);
            });
            CHECK(c.blas_calls == 1);
            CHECK(out.to_host<float>(6) == std::vector<float>(6, 8.f));
        }
        // Everything above went back: the tensor's block to the cache, the buffers to the system.
        CHECK(runtime_counters().bytes_in_use == base);
        {
            Tensor again;
            const RuntimeCounters c = counted([&] { again = Tensor::empty({1000}, gpu); });
            CHECK(c.device_allocs == 0);  // the cached block is handed out again
            CHECK(c.bytes_in_use == base + 4096);
        }
        CHECK(runtime_counters().bytes_in_use == base);
    }

    TEST_CASE("cuda step counts: a search step allocates nothing after the first, either order") {
        for (const bool second : {false, true}) {
            CAPTURE(second);
            CachingAllocator::instance().release_cached();  // each order fills the cache itself
            const bench::StepBenchReport gpu =
                bench::run_step_bench(tiny_step(Device::cuda(), second));
            const bench::StepBenchReport cpu =
                bench::run_step_bench(tiny_step(Device::cpu(), second));
            REQUIRE(gpu.warmup_steps.size() == 1);
            REQUIRE(gpu.timed_steps.size() == 2);
            const RuntimeCounters& first = gpu.warmup_steps[0].counts;
            const RuntimeCounters& s2 = gpu.timed_steps[0].counts;
            const RuntimeCounters& s3 = gpu.timed_steps[1].counts;
            MESSAGE(std::string(second ? "second" : "first")
                    << " order, first step: " << first.launches << " launches, " << first.blas_calls
                    << " cuBLAS calls, " << first.device_allocs << " allocations, "
                    << first.host_syncs << " host syncs, " << first.h2d_copies
                    << " uploads; steps 2 and 3: " << s2.launches << " and " << s3.launches
                    << " launches, " << s2.blas_calls << " cuBLAS calls, " << s2.device_allocs
                    << " and " << s3.device_allocs << " allocations, " << s2.host_syncs
                    << " host syncs, " << s2.h2d_copies << " uploads, peak " << s2.peak_bytes
                    << " bytes");
            CHECK(first.device_allocs > 0);  // the caching allocator fills up in the first step
            CHECK(s2.device_allocs == 0);
            CHECK(s3.device_allocs == 0);
            // Fixed shapes: every step does the same work, but for one launch: the gradient clip
            // scales the gradients (one kernel) only when their norm exceeds the bound.
            CHECK(std::abs(s2.launches - s3.launches) <= 1);
            CHECK(s2.blas_calls == s3.blas_calls);
            CHECK(s2.host_syncs == s3.host_syncs);
            CHECK(s2.h2d_copies == s3.h2d_copies);
            CHECK(s2.peak_bytes == s3.peak_bytes);
            CHECK(s2.launches > (second ? kSecondOrderLaunches : kFirstOrderLaunches) / 2);
            CHECK(s2.launches <= (second ? kSecondOrderLaunches : kFirstOrderLaunches));
            CHECK(s3.launches <= (second ? kSecondOrderLaunches : kFirstOrderLaunches));
            // By family: they add up to the step's launches, and the search's main ones appear.
            int64_t by_family = 0;
            std::string families;
            for (const FamilyLaunches& f : gpu.timed_steps[0].families) {
                by_family += f.launches;
                families.append(" ").append(f.family).append("=");
                families.append(std::to_string(f.launches));
            }
            MESSAGE("launches by family, step 2:" << families);
            CHECK(by_family == s2.launches);
            for (const char* family :
                 {"conv_fwd", "conv_bwd_data", "conv_bwd_weight", "conv_pointwise", "batchnorm",
                  "mixed_op", "pool", "elementwise", "optim", "softmax"}) {
                CAPTURE(family);
                const std::string key = std::string(" ").append(family).append("=");
                CHECK(families.find(key) != std::string::npos);
            }
            CHECK(s2.blas_calls > 0);
            CHECK(s2.host_syncs > 0);
            CHECK(s2.peak_bytes > 0);
            // The same steps on the CPU: the same losses, and no device work at all.
            for (size_t i = 0; i < 2; ++i) {
                CAPTURE(i);
                CHECK(gpu.timed_steps[i].loss ==
                      doctest::Approx(cpu.timed_steps[i].loss).epsilon(1e-4));
                const RuntimeCounters& c = cpu.timed_steps[i].counts;
                CHECK(c.launches + c.blas_calls + c.device_allocs + c.host_syncs + c.h2d_copies ==
                      0);
                CHECK(cpu.timed_steps[i].families.empty());
            }
        }
    }
}

#endif  // CUDARTS_HAS_CUDA
