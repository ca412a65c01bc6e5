// Device buffers for the CUDA-vs-CPU suites (compiled only with CUDARTS_HAS_CUDA). A DeviceVec
// owns device memory through engine/device_buffer.h, starts poisoned with NaN (so an output element
// a kernel forgets to write fails the comparison), and carries a guard zone after the data that
// must still hold its pattern after the launch (catching overruns).
#pragma once

#if CUDARTS_HAS_CUDA

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "engine/device_buffer.h"
#include "kernels/check.h"
#include "tests/util.h"

namespace cudarts::test {

class DeviceVec {
public:
    static constexpr int64_t kGuard = 64;  // floats after the data, filled with a sentinel

    explicit DeviceVec(const std::vector<float>& host)
        : n_(int64_t(host.size())),
          buf_(DeviceBuffer::from_host(Device::cuda(), host, bytes(kGuard))) {
        const std::vector<float> g(size_t(kGuard), kSentinel);
        buf_.upload(g.data(), bytes(kGuard), bytes(n_));
    }
    static DeviceVec poisoned(int64_t n) {
        return DeviceVec(std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN()));
    }

    float* data() const { return buf_.as<float>(); }
    int64_t size() const { return n_; }
    std::vector<float> to_host() const { return buf_.to_host<float>(size_t(n_)); }
    // Whether the guard zone after the data is intact.
    bool guard_intact() const {
        std::vector<float> g(static_cast<size_t>(kGuard));
        buf_.download(g.data(), bytes(kGuard), bytes(n_));
        for (float v : g)
            if (v != kSentinel) return false;
        return true;
    }

private:
    static constexpr float kSentinel = -12345.f;
    static size_t bytes(int64_t n) { return size_t(n) * sizeof(float); }
    int64_t n_ = 0;
    DeviceBuffer buf_;
};

// The outputs, after checking that the kernel left the guard zone behind them alone.
inline std::vector<float> fetch(const DeviceVec& v) {
    CHECK_MESSAGE(v.guard_intact(), "the kernel wrote past element " << v.size());
    return v.to_host();
}

// Tests launch on the legacy default stream and synchronise through the blocking copies.
inline Stream test_stream() { return nullptr; }

// A GradMode write on both devices in both modes, through test::run_both_modes: overwrite onto
// over_start (NaN wherever every element must be written), accumulate onto the same non-zero start
// on both; the device's results must match the host's within over_tol and acc_tol (relative and
// absolute alike).
inline void check_modes_match(const std::vector<float>& over_start, const ModeWrite& cpu_write,
                              const ModeWrite& cuda_write, double over_tol, double acc_tol,
                              const std::string& what) {
    const ModeRuns want = run_both_modes(cpu_write, over_start);
    const auto on_device = [&](float* out, GradMode mode) {
        DeviceVec out_dev(std::vector<float>(out, out + over_start.size()));
        cuda_write(out_dev.data(), mode);
        const std::vector<float> got = fetch(out_dev);
        std::copy(got.begin(), got.end(), out);
    };
    const ModeRuns got = run_both_modes(on_device, over_start);
    check_close(got.over, want.over, over_tol, over_tol, what + " overwrite");
    check_close(got.acc, want.acc, acc_tol, acc_tol, what + " accumulate");
}

// A backward pair (outputs, inputs, shape, mode[, stream]) run on both devices: dy of dy_elems
// seeded floats, dx of dx_elems floats overwritten from NaN; CUDA must match the CPU within
// over_tol and acc_tol in both GradModes (check_modes_match).
template <class Shape>
inline void check_bwd_match(void (*cpu_bwd)(float*, const float*, const Shape&, GradMode),
                            void (*cuda_bwd)(float*, const float*, const Shape&, GradMode, Stream),
                            const Shape& s, int64_t dx_elems, int64_t dy_elems, uint64_t seed,
                            double over_tol, double acc_tol, const std::string& what) {
    const std::vector<float> dy = uniform(dy_elems, seed);
    const DeviceVec dy_dev(dy);
    check_modes_match(
        nans(dx_elems), [&](float* dx, GradMode m) { cpu_bwd(dx, dy.data(), s, m); },
        [&](float* dx, GradMode m) { cuda_bwd(dx, dy_dev.data(), s, m, test_stream()); }, over_tol,
        acc_tol, what);
}

// A forward from host x on both devices, y of out_elems floats: cpu_fwd(y, x) on the host, and
// cuda_fwd(y_dev, x_dev) into a NaN-poisoned device output. `got` is the device's y (its guard
// zone checked), `want` the host's.
using FwdWrite = std::function<void(float* y, const float* x)>;
struct FwdRuns {
    std::vector<float> got, want;
};
inline FwdRuns run_fwd_both(const std::vector<float>& x, int64_t out_elems, const FwdWrite& cpu_fwd,
                            const FwdWrite& cuda_fwd) {
    std::vector<float> want(static_cast<size_t>(out_elems));
    cpu_fwd(want.data(), x.data());
    const DeviceVec x_dev(x), y_dev = DeviceVec::poisoned(out_elems);
    cuda_fwd(y_dev.data(), x_dev.data());
    return {.got = fetch(y_dev), .want = want};
}

// A forward pair (output, input, shape[, stream]) run on both devices (run_fwd_both) from x of
// x_elems seeded floats: CUDA's y of y_elems floats must match the CPU's within tol (relative and
// absolute alike).
template <class Shape>
inline void check_fwd_match(void (*cpu_fwd)(float*, const float*, const Shape&),
                            void (*cuda_fwd)(float*, const float*, const Shape&, Stream),
                            const Shape& s, int64_t x_elems, int64_t y_elems, uint64_t seed,
                            double tol, const std::string& what) {
    const auto [got, want] = run_fwd_both(
        uniform(x_elems, seed), y_elems, [&](float* y, const float* x) { cpu_fwd(y, x, s); },
        [&](float* y, const float* x) { cuda_fwd(y, x, s, test_stream()); });
    check_close(got, want, tol, tol, what);
}

// The same for int32 inputs (labels, ids), with 4 spare bytes so that an empty list still has an
// address.
class DeviceInts {
public:
    explicit DeviceInts(const std::vector<int32_t>& host)
        : buf_(DeviceBuffer::from_host(Device::cuda(), host, 4)) {}
    int32_t* data() const { return buf_.as<int32_t>(); }

private:
    DeviceBuffer buf_;
};

// The size cases of a suite ({name, n} structs) and an empty one after them, for kernels that
// must handle n = 0.
template <class SizeCase>
std::vector<SizeCase> with_empty(std::vector<SizeCase> cases) {
    cases.push_back({"empty", 0});
    return cases;
}

// f(v) for every version v of a table that supports the argument (a shape or a size), with the
// version's name captured for the checks f makes.
template <class Versions, class Arg, class F>
void for_each_version(const Versions& versions, const Arg& arg, const F& f) {
    for (const auto& v : versions) {
        if (!v.supports(arg)) continue;
        const std::string version = v.name;
        CAPTURE(version);
        f(v);
    }
}

// A version table of a launcher over n values (FlatVersion, kernels/common.h) with two entries:
// "v1" takes any n and "v2" from v2_from on; v2 throws below it, and the launcher gives the bits of
// the version it should pick, just below, at and far above v2_from (every version is
// deterministic). run(launch, n) returns the output of one launch of `launch` over n values.
template <class Launch, class Run>
void check_two_versions(std::span<const FlatVersion<Launch>> versions, Launch* launcher,
                        int64_t v2_from, const Run& run) {
    REQUIRE(versions.size() == 2);
    CHECK(std::string(versions[0].name) == "v1");
    CHECK(std::string(versions[1].name) == "v2");
    CHECK(versions[0].supports(v2_from - 1));
    CHECK_FALSE(versions[1].supports(v2_from - 1));
    CHECK(versions[1].supports(v2_from));
    CHECK_THROWS_AS(run(versions[1].launch, v2_from - 1), Error);
    for (const int64_t n : {v2_from - 1, v2_from, 37 * v2_from + 5}) {
        CAPTURE(n);
        const std::vector<float> want = run(versions[n >= v2_from ? 1 : 0].launch, n);
        const std::vector<float> got = run(launcher, n);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == want[i]);
    }
}

// got and want hold the same bits, element for element (a grouped launch against its items'
// own launches); counts the differing elements rather than checking each.
inline void check_bits(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    int64_t differ = 0;
    for (size_t i = 0; i < got.size(); ++i)
        differ += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
    CHECK(differ == 0);
}

// The two write modes by short names, for suites that loop over both.
inline constexpr GradMode kOverwrite = GradMode::kOverwrite;
inline constexpr GradMode kAccumulate = GradMode::kAccumulate;

}  // namespace cudarts::test

#endif  // CUDARTS_HAS_CUDA
