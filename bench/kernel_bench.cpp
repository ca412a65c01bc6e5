// Rows of the kernel benchmark (bench/kernel_bench.h): shapes, compulsory bytes, the event timer
// and the table/JSON output. Pure host code; the CUDA part is compiled only with CUDARTS_HAS_CUDA.
#include "bench/kernel_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

#include "bench/shapes.h"
#include "engine/device.h"
#include "engine/device_buffer.h"
#include "kernels/batchnorm.h"
#include "kernels/check.h"
#include "kernels/elementwise.h"
#include "kernels/mixed_op.h"
#include "kernels/optim.h"
#include "kernels/pool.h"

#if defined(CUDARTS_HAS_CUDA)
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"
#endif

namespace cudarts::bench {

double median_of(std::vector<double> v) {
    CUDARTS_CHECK(!v.empty(), "median_of: no values");
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double peak_gbps_by_name(const std::string& name) {
    auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
    if (has("H200")) return 4800.0;
    if (has("H100") && (has("PCIe") || has("PCIE"))) return 2039.0;
    if (has("H100")) return 3352.0;
    return 0.0;
}

bool name_matches(const std::string& filter, const std::string& name, const std::string& shape) {
    return filter.empty() || name.find(filter) != std::string::npos ||
           shape.find(filter) != std::string::npos;
}

namespace {
// "n/a (why)" shows as "n/a" in the table; the JSON keeps the reason.
std::string short_label(const std::string& label) {
    return label.rfind("n/a", 0) == 0 ? "n/a" : label;
}
}  // namespace

std::string format_table(const BenchReport& r) {
    std::ostringstream os;
    char line[256];
    os << "device: " << r.device << "\n";
    std::snprintf(line, sizeof line, "%.0f GB/s", r.peak_gbps);
    os << "DRAM peak: " << line << " (" << r.peak_source << "); median of " << r.runs
       << " runs after " << r.warmup << " warm-up"
       << (r.l2_flushed ? ", L2 flushed before each run\n" : ", L2 warm\n");
    std::snprintf(line, sizeof line, "%-30s %9s %9s %8s %6s %8s %-10s %9s %6s  %s\n", "row",
                  "med_us", "min_us", "GB/s", "roof", "TFLOP/s", "baseline", "base_us", "ratio",
                  "shape");
    os << line;
    for (const BenchRow& b : r.rows) {
        char tf[16] = "-", base_us[16] = "-", ratio[16] = "-";
        if (b.flops > 0) std::snprintf(tf, sizeof tf, "%.3f", b.tflops);
        if (b.baseline_ms > 0) {
            std::snprintf(base_us, sizeof base_us, "%.2f", b.baseline_ms * 1e3);
            std::snprintf(ratio, sizeof ratio, "%.2f", b.ratio);
        }
        std::snprintf(line, sizeof line, "%-30s %9.2f %9.2f %8.1f %5.0f%% %8s %-10s %9s %6s  ",
                      b.name.c_str(), b.median_ms * 1e3, b.min_ms * 1e3, b.gbps, b.roofline * 100.0,
                      tf, short_label(b.baseline).c_str(), base_us, ratio);
        os << line << b.shape << (b.output_finite ? "" : "  OUTPUT NOT FULLY WRITTEN") << "\n";
    }
    return os.str();
}

nlohmann::json to_json(const BenchReport& r) {
    nlohmann::json rows = nlohmann::json::array();
    auto or_null = [](double v, bool present) { return present ? nlohmann::json(v) : nullptr; };
    for (const BenchRow& b : r.rows) {
        rows.push_back({{"name", b.name},
                        {"shape", b.shape},
                        {"median_ms", b.median_ms},
                        {"min_ms", b.min_ms},
                        {"bytes", b.bytes},
                        {"flops", or_null(b.flops, b.flops > 0)},
                        {"gbps", b.gbps},
                        {"roofline", or_null(b.roofline, r.peak_gbps > 0)},
                        {"tflops", or_null(b.tflops, b.flops > 0)},
                        {"baseline", b.baseline},
                        {"baseline_ms", or_null(b.baseline_ms, b.baseline_ms > 0)},
                        {"ratio", or_null(b.ratio, b.baseline_ms > 0)},
                        {"output_finite", b.output_finite}});
    }
    return {{"device", r.device},     {"peak_gbps", r.peak_gbps}, {"peak_source", r.peak_source},
            {"runs", r.runs},         {"warmup", r.warmup},       {"l2_flushed", r.l2_flushed},
            {"rows", std::move(rows)}};
}

namespace {

void validate(const BenchOptions& opt) {
    if (opt.runs < 20)
        throw InputError("--runs: expected at least 20 timed runs, got " +
                         std::to_string(opt.runs));
    if (opt.warmup < 0)
        throw InputError("--warmup: expected 0 or more, got " + std::to_string(opt.warmup));
    if (!(opt.peak_gbps >= 0.0))
        throw InputError("--peak-gbps: expected a positive bandwidth in GB/s");
}

}  // namespace

#if !defined(CUDARTS_HAS_CUDA)

BenchReport run_kernel_bench(const BenchOptions& opt) {
    validate(opt);
    throw InputError("bench kernels: no CUDA device (" + cuda_unavailable_reason() + ")");
}

#else

namespace {

constexpr int kCandidates = 8;               // DARTS primitives per edge
constexpr int kBatch = shapes::kPaperBatch;  // every row times the DARTS shapes at this batch

std::string nchw(int n, int c, int h, int w) {
    std::ostringstream os;
    os << "(" << n << ", " << c << ", " << h << ", " << w << ")";
    return os.str();
}

template <class Shape>
std::string str_of(const Shape& s) {
    std::ostringstream os;
    os << s;
    return os.str();
}

// n floats on cuda:0 (owned by a DeviceBuffer): seeded uniform [-1, 1], or NaN (poison) for
// outputs.
class DevBuf {
public:
    explicit DevBuf(int64_t n) : n_(n), buf_(Device::cuda(0), size_t(n) * sizeof(float)) {}
    float* data() const { return buf_.as<float>(); }
    size_t bytes() const { return buf_.bytes(); }
    void fill_uniform(uint32_t seed) {
        std::mt19937 gen(seed);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        std::vector<float> h(static_cast<size_t>(n_));
        for (float& v : h) v = u(gen);
        buf_.upload(h.data(), bytes());
        // The timed stream is non-blocking: make sure the copy has landed before it reads.
        CUDARTS_CUDA_CHECK(cudaDeviceSynchronize());
    }
    void poison() {  // 0xFFFFFFFF is a NaN
        CUDARTS_CUDA_CHECK(cudaMemset(data(), 0xFF, bytes()));
        CUDARTS_CUDA_CHECK(cudaDeviceSynchronize());
    }
    bool all_finite() const {
        const std::vector<float> h = buf_.to_host<float>(size_t(n_));
        return std::all_of(h.begin(), h.end(), [](float v) { return std::isfinite(v); });
    }

private:
    int64_t n_;
    DeviceBuffer buf_;
};

struct Timing {
    double median_ms, min_ms;
};

// CUDA-event timer on one stream, with an L2 flush (a memset of twice the L2 size) before every
// timed run, outside the timed window.
class Timer {
public:
    Timer(const BenchOptions& opt, Stream st) : opt_(opt), st_(st) {
        CUDARTS_CUDA_CHECK(cudaEventCreate(&start_));
        CUDARTS_CUDA_CHECK(cudaEventCreate(&stop_));
        int l2 = 0;
        CUDARTS_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
        if (opt.flush_l2 && l2 > 0) flush_ = std::make_unique<DevBuf>(2 * int64_t(l2) / 4);
    }
    ~Timer() {
        cudaEventDestroy(start_);
        cudaEventDestroy(stop_);
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    Timing time(const std::function<void()>& fn) {
        for (int i = 0; i < opt_.warmup; ++i) fn();
        CUDARTS_CUDA_CHECK(cudaStreamSynchronize(st_));
        std::vector<double> ms;
        for (int i = 0; i < opt_.runs; ++i) {
            if (flush_)
                CUDARTS_CUDA_CHECK(cudaMemsetAsync(flush_->data(), i & 0xFF, flush_->bytes(), st_));
            CUDARTS_CUDA_CHECK(cudaEventRecord(start_, st_));
            fn();
            CUDARTS_CUDA_CHECK(cudaEventRecord(stop_, st_));
            CUDARTS_CUDA_CHECK(cudaEventSynchronize(stop_));
            float t = 0.0f;
            CUDARTS_CUDA_CHECK(cudaEventElapsedTime(&t, start_, stop_));
            ms.push_back(t);
        }
        return {median_of(ms), *std::min_element(ms.begin(), ms.end())};
    }

private:
    const BenchOptions& opt_;
    Stream st_;
    cudaEvent_t start_ = nullptr, stop_ = nullptr;
    std::unique_ptr<DevBuf> flush_;
};

struct Baseline {
    std::string label;  // "cudnn", "is cuBLAS", "n/a (...)"
    double ms = 0.0;
};

// Collects rows: filter, poison, time, check the output was written, derive the rates.
class Runner {
public:
    Runner(const BenchOptions& opt, BenchReport& rep, Stream st)
        : opt_(opt), rep_(rep), timer_(opt, st) {}

    bool wanted(const std::string& name, const std::string& shape) const {
        return name_matches(opt_.filter, name, shape);
    }
    double time_only(const std::function<void()>& fn) { return timer_.time(fn).median_ms; }

    void add(const std::string& name, const std::string& shape, double bytes, double flops,
             DevBuf& out, const std::function<void()>& fn, const Baseline& base) {
        if (!wanted(name, shape)) return;
        out.poison();
        const Timing t = timer_.time(fn);
        BenchRow r;
        r.name = name;
        r.shape = shape;
        r.median_ms = t.median_ms;
        r.min_ms = t.min_ms;
        r.bytes = bytes;
        r.flops = flops;
        r.gbps = bytes / (t.median_ms * 1e-3) / 1e9;
        r.roofline = rep_.peak_gbps > 0 ? r.gbps / rep_.peak_gbps : 0.0;
        r.tflops = flops / (t.median_ms * 1e-3) / 1e12;
        r.baseline = base.label;
        r.baseline_ms = base.ms;
        r.ratio = base.ms > 0 ? t.median_ms / base.ms : 0.0;
        r.output_finite = out.all_finite();
        rep_.rows.push_back(r);
        std::fprintf(stderr, "  %-30s %9.2f us\n", name.c_str(), t.median_ms * 1e3);
    }

private:
    const BenchOptions& opt_;
    BenchReport& rep_;
    Timer timer_;
};

void resolve_peak(const BenchOptions& opt, const std::string& name, BenchReport& rep) {
    if (opt.peak_gbps > 0) {
        rep.peak_gbps = opt.peak_gbps;
        rep.peak_source = "--peak-gbps";
        return;
    }
    int clock_khz = 0, bus_bits = 0;
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0) == cudaSuccess &&
        clock_khz > 0 && bus_bits > 0) {
        rep.peak_gbps = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
        rep.peak_source = "device attributes (2 x memory clock x bus width)";
        return;
    }
    (void)cudaGetLastError();
    rep.peak_gbps = peak_gbps_by_name(name);
    rep.peak_source = rep.peak_gbps > 0 ? "name table (" + name + ")"
                                        : "unknown device: pass --peak-gbps; roofline left 0";
}

// Depthwise, dilated or 1x1 convolution: every version of each direction (the 1x1 shapes are the
// cuBLAS version), against cuDNN's grouped convolution for the depthwise ones.
void bench_conv_rows(Runner& run, const Conv2dShape& s, const std::string& op, Stream st) {
    const std::string shape = str_of(s);
    const bool pointwise = s.k == 1;
    DevBuf x(s.in_elems()), w(s.weight_elems()), y(s.out_elems());
    DevBuf dy(s.out_elems()), dx(s.in_elems()), dw(s.weight_elems());
    x.fill_uniform(1);
    w.fill_uniform(2);
    dy.fill_uniform(3);
    const double bytes = 4.0 * double(s.in_elems() + s.weight_elems() + s.out_elems());
    const double flops = s.flops_fwd();  // the same count in each direction
    auto baseline = [&](ConvDir dir, DevBuf& out, const float* a, const float* b) {
        if (pointwise) return Baseline{"is cuBLAS", 0.0};
        std::string why;
        try {  // a cuDNN failure costs the baseline column, not the benchmark
            std::function<void()> fn = make_cudnn_conv(dir, s, out.data(), a, b, st, &why);
            if (!fn) return Baseline{why, 0.0};
            return Baseline{"cudnn", run.time_only(fn)};
        } catch (const Error& e) {
            return Baseline{std::string("n/a (") + e.what() + ")", 0.0};
        }
    };
    auto keep = [&](const char* dir, const char* version, bool supports) {
        if (!supports || (std::string(version) == "cublas") != pointwise) return false;
        return run.wanted(op + "." + dir + "." + version, shape);
    };
    // One direction's rows: every kept version of `versions`, launched by launch(v) into out,
    // beside cuDNN's time on (a, b); the baseline is measured only when some version is kept.
    auto direction = [&](auto versions, const char* dir, ConvDir cudnn_dir, DevBuf& out,
                         const float* a, const float* b, const auto& launch) {
        bool any = false;
        for (const auto& v : versions) any = any || keep(dir, v.name, v.supports(s));
        if (!any) return;
        const Baseline base = baseline(cudnn_dir, out, a, b);
        for (const auto& v : versions)
            if (keep(dir, v.name, v.supports(s)))
                run.add(
                    op + "." + dir + "." + v.name, shape, bytes, flops, out, [&] { launch(v); },
                    base);
    };
    direction(cuda::conv2d_fwd_versions(), "fwd", ConvDir::kFwd, y, x.data(), w.data(),
              [&](const auto& v) { v.launch(y.data(), x.data(), w.data(), s, st); });
    direction(cuda::conv2d_bwd_data_versions(), "bwd_data", ConvDir::kBwdData, dx, dy.data(),
              w.data(), [&](const auto& v) {
                  v.launch(dx.data(), dy.data(), w.data(), s, GradMode::kOverwrite, st);
              });
    direction(cuda::conv2d_bwd_weight_versions(), "bwd_weight", ConvDir::kBwdWeight, dw, dy.data(),
              x.data(), [&](const auto& v) {
                  v.launch(dw.data(), dy.data(), x.data(), s, GradMode::kOverwrite, st);
              });
}

void bench_pool_rows(Runner& run, Stream st) {
    const Baseline none{"n/a (no baseline row)", 0.0};
    for (const Pool2dShape& s : shapes::darts_pool2d(kBatch)) {
        const std::string shape = str_of(s);
        DevBuf x(s.in_elems()), y(s.out_elems()), dy(s.out_elems()), dx(s.in_elems());
        x.fill_uniform(4);
        dy.fill_uniform(5);
        const double in = 4.0 * double(s.in_elems()), out = 4.0 * double(s.out_elems());
        run.add(
            "max_pool3x3.fwd.v1", shape, in + out, 0, y,
            [&] { cuda::max_pool2d_fwd(y.data(), x.data(), s, st); }, none);
        run.add(
            "max_pool3x3.bwd.v1", shape, out + 2 * in, 0, dx,
            [&] {
                cuda::max_pool2d_bwd(dx.data(), dy.data(), x.data(), s, GradMode::kOverwrite, st);
            },
            none);
        run.add(
            "avg_pool3x3.fwd.v1", shape, in + out, 0, y,
            [&] { cuda::avg_pool2d_fwd(y.data(), x.data(), s, st); }, none);
        run.add(
            "avg_pool3x3.bwd.v1", shape, out + in, 0, dx,
            [&] { cuda::avg_pool2d_bwd(dx.data(), dy.data(), s, GradMode::kOverwrite, st); }, none);
    }
}

// Batch norm (training, affine=False as in the search network), ReLU and the mixed edge (K=8).
void bench_other_rows(Runner& run, Stream st) {
    const Baseline none{"n/a (no baseline row)", 0.0};
    bench_pool_rows(run, st);
    {  // the gradient clip's sum of squares over the search network's weights
        const int64_t n = shapes::kSearchNetworkWeights;
        DevBuf g(n), out(1);
        g.fill_uniform(10);
        for (const cuda::SumSquaresVersion& v : cuda::sum_squares_versions())
            run.add(
                std::string("sum_squares.") + v.name, "n=" + std::to_string(n), 4.0 * double(n),
                2.0 * double(n), out, [&] { v.launch(out.data(), g.data(), n, st); }, none);
    }
    for (const shapes::DartsPlane& p : shapes::kDartsPlanes) {
        const int64_t n = p.elems(kBatch);
        const std::string plane = nchw(kBatch, p.c, p.hw, p.hw);
        const double nb = 4.0 * double(n);

        const BatchNormShape bn{kBatch, p.c, p.hw * p.hw};
        DevBuf x(n), y(n), dy(n), dx(n), mean(p.c), invstd(p.c);
        x.fill_uniform(6);
        dy.fill_uniform(7);
        for (const cuda::BatchNormVersion& v : cuda::batch_norm_versions()) {
            if (!v.supports(bn)) continue;
            auto bn_fwd = [&] {
                v.fwd_train(y.data(), mean.data(), invstd.data(), nullptr, nullptr, x.data(),
                            nullptr, nullptr, bn, kBnMomentum, kBnEps, st);
            };
            run.add(std::string("batch_norm.fwd_train.") + v.name, str_of(bn), 2 * nb + 8.0 * p.c,
                    0, y, bn_fwd, none);
            bn_fwd();  // the saved statistics the backward reads
            run.add(
                std::string("batch_norm.bwd_train.") + v.name, str_of(bn), 3 * nb + 8.0 * p.c, 0,
                dx,
                [&] {
                    v.bwd_train(dx.data(), nullptr, nullptr, dy.data(), x.data(), nullptr,
                                mean.data(), invstd.data(), bn, GradMode::kOverwrite, st);
                },
                none);
        }

        run.add(
            "relu.fwd.v1", plane, 2 * nb, 0, y, [&] { cuda::relu_fwd(y.data(), x.data(), n, st); },
            none);
        y.fill_uniform(8);
        run.add(
            "relu.bwd.v1", plane, 3 * nb, 0, dx,
            [&] { cuda::relu_bwd(dx.data(), dy.data(), y.data(), n, GradMode::kOverwrite, st); },
            none);

        const std::string mixed = "K=8 x " + plane;
        bool any_mixed = run.wanted("mixed_softmax_sum.fwd.v1", mixed);
        for (const cuda::MixedBwdVersion& v : cuda::mixed_bwd_versions())
            any_mixed =
                any_mixed || run.wanted(std::string("mixed_softmax_sum.bwd.") + v.name, mixed);
        if (!any_mixed) continue;
        std::vector<std::unique_ptr<DevBuf> > ys, dys;
        std::vector<const float*> y_ptrs;
        std::vector<float*> dy_ptrs;
        for (int k = 0; k < kCandidates; ++k) {
            ys.push_back(std::make_unique<DevBuf>(n));
            dys.push_back(std::make_unique<DevBuf>(n));
            ys.back()->fill_uniform(uint32_t(20 + k));
            dys.back()->fill_uniform(uint32_t(40 + k));  // overwritten; keeps the check honest
            y_ptrs.push_back(ys.back()->data());
            dy_ptrs.push_back(dys.back()->data());
        }
        DevBuf alpha(kCandidates), dalpha(kCandidates);
        alpha.fill_uniform(9);
        run.add(
            "mixed_softmax_sum.fwd.v1", mixed, (kCandidates + 1) * nb, 0, y,
            [&] {
                cuda::mixed_softmax_sum_fwd(y.data(), y_ptrs.data(), alpha.data(), kCandidates, n,
                                            st);
            },
            none);
        // dys[0] stands in for all K outputs in the written-check; dalpha is tiny.
        for (const cuda::MixedBwdVersion& v : cuda::mixed_bwd_versions()) {
            if (!v.supports(n)) continue;
            run.add(
                std::string("mixed_softmax_sum.bwd.") + v.name, mixed, (2 * kCandidates + 1) * nb,
                0, *dys[0],
                [&] {
                    v.mixed_softmax_sum_bwd(dy_ptrs.data(), dalpha.data(), dy.data(), y_ptrs.data(),
                                            alpha.data(), kCandidates, n, GradMode::kOverwrite, st);
                },
                none);
        }
    }
}

}  // namespace

BenchReport run_kernel_bench(const BenchOptions& opt) {
    validate(opt);
    if (!cuda_available())
        throw InputError("bench kernels: no CUDA device (" + cuda_unavailable_reason() + ")");
    CUDARTS_CUDA_CHECK(cudaSetDevice(0));
    cudaDeviceProp prop{};
    CUDARTS_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    BenchReport rep;
    rep.device = describe(Device::cuda(0));
    rep.runs = opt.runs;
    rep.warmup = opt.warmup;
    rep.l2_flushed = opt.flush_l2;
    resolve_peak(opt, prop.name, rep);

    cudaStream_t st = nullptr;
    CUDARTS_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    try {
        Runner run(opt, rep, st);
        for (int dil : {1, 2})
            for (const Conv2dShape& s : shapes::darts_depthwise(kBatch, dil))
                bench_conv_rows(run, s,
                                (dil == 1 ? "dwconv" : "dilconv") + std::to_string(s.k) + "x" +
                                    std::to_string(s.k),
                                st);
        for (const Conv2dShape& s : shapes::darts_pointwise(kBatch))
            bench_conv_rows(run, s, "conv1x1", st);
        bench_other_rows(run, st);
    } catch (...) {
        cudaStreamSynchronize(st);
        cudaStreamDestroy(st);
        throw;
    }
    CUDARTS_CUDA_CHECK(cudaStreamSynchronize(st));
    CUDARTS_CUDA_CHECK(cudaStreamDestroy(st));
    return rep;
}

#endif  // CUDARTS_HAS_CUDA

}  // namespace cudarts::bench
