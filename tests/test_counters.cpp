// The runtime counters' arithmetic (engine/counters.h), on the CPU: a reset zeroes the events and
// brings the peak down to the bytes in use, the peak follows the highest level since, snapshots
// subtract, and CPU tensors and host copies count nothing (only CUDA work is counted).
#include <doctest/doctest.h>

#include "engine/counters.h"
#include "engine/memory.h"
#include "engine/tensor.h"

using namespace cudarts;

namespace {

// Checks the five event counts of c against the expected ones, in RuntimeCounters' order.
void check_events(const RuntimeCounters& c, int64_t launches, int64_t blas_calls,
                  int64_t device_allocs, int64_t host_syncs, int64_t h2d_copies) {
    CHECK(c.launches == launches);
    CHECK(c.blas_calls == blas_calls);
    CHECK(c.device_allocs == device_allocs);
    CHECK(c.host_syncs == host_syncs);
    CHECK(c.h2d_copies == h2d_copies);
}

}  // namespace

TEST_SUITE("counters") {
    TEST_CASE("counters: reset zeroes the events and sets the peak to the bytes in use") {
        // Other suites may hold device memory: every level is taken relative to `base`.
        const int64_t base = runtime_counters().bytes_in_use;
        detail::count_launch();
        detail::count_launch();
        detail::count_blas_call();
        detail::count_device_alloc();
        detail::count_host_sync();
        detail::count_h2d_copy();
        detail::add_device_bytes(1000);
        detail::add_device_bytes(-400);
        RuntimeCounters c = runtime_counters();
        CHECK(c.launches >= 2);
        CHECK(c.bytes_in_use == base + 600);
        CHECK(c.peak_bytes >= base + 1000);

        reset_runtime_counters();
        c = runtime_counters();
        check_events(c, 0, 0, 0, 0, 0);
        CHECK(c.bytes_in_use == base + 600);  // a level, kept
        CHECK(c.peak_bytes == base + 600);    // down to the current level

        detail::count_launch();
        detail::count_blas_call();
        detail::count_blas_call();
        detail::count_device_alloc();
        detail::count_host_sync();
        detail::count_host_sync();
        detail::count_host_sync();
        detail::count_h2d_copy();
        c = runtime_counters();
        check_events(c, 1, 2, 1, 3, 1);

        // The peak is the highest level reached, not the sum of the increments.
        detail::add_device_bytes(300);   // base + 900
        detail::add_device_bytes(-800);  // base + 100
        detail::add_device_bytes(500);   // base + 600
        c = runtime_counters();
        CHECK(c.bytes_in_use == base + 600);
        CHECK(c.peak_bytes == base + 900);
        detail::add_device_bytes(-600);
        reset_runtime_counters();
        CHECK(runtime_counters().bytes_in_use == base);
        CHECK(runtime_counters().peak_bytes == base);
    }

    TEST_CASE("counters: counters_since subtracts the events and keeps the later levels") {
        // Each counter's value before and after, and what counters_since must give for it: the
        // difference for the events, the later value for the two levels.
        struct Row {
            const char* name;
            int64_t RuntimeCounters::*field;
            int64_t before, after, want;
        };
        const Row rows[] = {
            {"launches", &RuntimeCounters::launches, 10, 25, 15},
            {"blas_calls", &RuntimeCounters::blas_calls, 4, 9, 5},
            {"device_allocs", &RuntimeCounters::device_allocs, 3, 3, 0},
            {"host_syncs", &RuntimeCounters::host_syncs, 7, 8, 1},
            {"h2d_copies", &RuntimeCounters::h2d_copies, 2, 6, 4},
            {"bytes_in_use", &RuntimeCounters::bytes_in_use, 512, 2048, 2048},
            {"peak_bytes", &RuntimeCounters::peak_bytes, 1024, 4096, 4096},
        };
        RuntimeCounters before, after;
        for (const Row& r : rows) {
            before.*r.field = r.before;
            after.*r.field = r.after;
        }
        const RuntimeCounters d = counters_since(before, after);
        for (const Row& r : rows) {
            CAPTURE(r.name);
            CHECK(d.*r.field == r.want);
        }
    }

    TEST_CASE("counters: launches count by the launcher's file, most first, zeroed by a reset") {
        reset_runtime_counters();
        CHECK(launches_by_family().empty());
        // The same name from two pointers (two translation units) is one cell; another path to a
        // file of the same basename is another cell, but the same family.
        const std::string other_copy = "kernels/cuda/conv_bwd.cu";
        detail::count_launch("kernels/cuda/pool.cu");
        detail::count_launch("kernels/cuda/conv_bwd.cu");
        detail::count_launch(other_copy.c_str());
        detail::count_launch("/abs/path/kernels/cuda/conv_bwd.cu");
        detail::count_launch("batchnorm.cu");
        detail::count_launch("kernels/cuda/pool.cu");
        const std::vector<FamilyLaunches> f = launches_by_family();
        REQUIRE(f.size() == 3);
        CHECK(f[0].family == "conv_bwd");
        CHECK(f[0].launches == 3);
        CHECK(f[1].family == "pool");
        CHECK(f[1].launches == 2);
        CHECK(f[2].family == "batchnorm");
        CHECK(f[2].launches == 1);
        CHECK(runtime_counters().launches == 6);
        reset_runtime_counters();
        CHECK(launches_by_family().empty());
        CHECK(runtime_counters().launches == 0);
    }

    TEST_CASE("counters: CPU tensors, fills and copies count nothing") {
        reset_runtime_counters();
        const RuntimeCounters before = runtime_counters();
        {
            const Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}, Device::cpu());
            const Tensor u = Tensor::full({1000}, 2.f, Device::cpu());
            CHECK(t.to_vector() == std::vector<float>{1, 2, 3});
            CHECK(u.to_vector()[999] == 2.f);
            void* p = raw_alloc(Device::cpu(), 4096);
            raw_free(Device::cpu(), p);
        }
        const RuntimeCounters d = counters_since(before, runtime_counters());
        CHECK(d.launches == 0);
        CHECK(d.blas_calls == 0);
        CHECK(d.device_allocs == 0);
        CHECK(d.host_syncs == 0);
        CHECK(d.h2d_copies == 0);
        CHECK(d.bytes_in_use == before.bytes_in_use);
        CHECK(d.peak_bytes == before.peak_bytes);
    }
}
