// The kernel benchmark behind `cudarts bench kernels` (issue #4, reference/performance.md 7.5).
// For every op and DARTS shape at batch 64 (C=16 at 32x32, C=32 at 16x16, C=64 at 8x8) it times
// the cuda:: launchers with CUDA events: warm-up runs, then at least 20 timed runs with the L2
// cache flushed before each one, reporting the median (and minimum). Achieved GB/s counts the
// compulsory traffic only (each input read once, each output written once), so the roofline
// fraction GB/s / peak is what a perfect kernel would reach as 1.0. Convolution rows also give
// TFLOP/s; depthwise and dilated rows are timed against cuDNN's grouped convolution
// (groups = C) when the build found cuDNN, the 1x1 rows are cuBLAS themselves.
// Inputs are seeded uniform [-1, 1] (never zeros); outputs are poisoned with NaN before timing.
// Everything here compiles in a CPU-only build; there run_kernel_bench throws InputError.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/conv.h"

namespace cudarts::bench {

struct BenchOptions {
    int runs = 20;           // timed runs per row (>= 20)
    int warmup = 5;          // untimed runs first
    std::string filter;      // keep rows whose name or shape contains this ("" keeps all)
    double peak_gbps = 0.0;  // DRAM peak; 0 = ask the device, then the name table
    bool flush_l2 = true;    // overwrite a buffer larger than L2 before every timed run
};

struct BenchRow {
    std::string name;   // <op>.<dir>.<version>, e.g. dwconv3x3.bwd_weight.v2
    std::string shape;  // the shape struct as it prints itself
    double median_ms = 0.0, min_ms = 0.0;
    double bytes = 0.0, flops = 0.0;  // compulsory traffic; FLOPs (0 when not a conv)
    double gbps = 0.0, roofline = 0.0, tflops = 0.0;
    std::string baseline;       // "cudnn", "is cuBLAS", or "n/a (<why>)"
    double baseline_ms = 0.0;   // 0 when there is no baseline time
    double ratio = 0.0;         // ours / baseline; 0 when there is no baseline time
    bool output_finite = true;  // the NaN-poisoned output was fully written by the timed runs
};

struct BenchReport {
    std::string device;  // describe(Device::cuda(0))
    double peak_gbps = 0.0;
    std::string peak_source;  // "--peak-gbps", "device attributes" or "name table (...)"
    int runs = 0, warmup = 0;
    bool l2_flushed = true;
    std::vector<BenchRow> rows;
};

// Runs every row that passes the filter on cuda:0. Throws InputError "bench kernels: no CUDA
// device (<reason>)" without one, and InputError for runs < 20 or warmup < 0.
BenchReport run_kernel_bench(const BenchOptions& opt);

// The fixed-width table printed on stdout, and the JSON written by --json.
std::string format_table(const BenchReport& r);
nlohmann::json to_json(const BenchReport& r);

// Small pieces, usable without a GPU.
double median_of(std::vector<double> v);            // v non-empty
double peak_gbps_by_name(const std::string& name);  // H100 SXM/PCIe, H200; 0 if unknown
bool name_matches(const std::string& filter, const std::string& name, const std::string& shape);

// cuDNN baseline (bench/cudnn_baseline.cpp). Returns a callable that runs the cuDNN grouped
// convolution in the given direction on the given device buffers (same argument order as the
// cuda:: conv launchers), with the fastest algorithm from cudnnFind* chosen once up front, or an
// empty function and the reason in *why_not (built without cuDNN, unsupported shape, ...).
enum class ConvDir { kFwd, kBwdData, kBwdWeight };
std::function<void()> make_cudnn_conv(ConvDir dir, const Conv2dShape& s, float* out,
                                      const float* in_a, const float* in_b, Stream st,
                                      std::string* why_not);

}  // namespace cudarts::bench
