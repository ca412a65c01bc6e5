// The kernel benchmark's host-side pieces (the timing itself needs a GPU): medians, the peak
// bandwidth table, the DARTS depthwise shapes ("same" padding), the row filter, the table and the
// JSON (missing baselines as null), and the refusal of too few timed runs; the shared shape lists
// of bench/shapes.h at any batch, and the CUDARTS_TEST_BIG_BATCH rule of tests/util.h. The step
// benchmark (bench/step_bench.h) on the CPU at tiny shapes: its steps, its refusals, its table and
// JSON.
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "bench/kernel_bench.h"
#include "bench/shapes.h"
#include "bench/step_bench.h"
#include "kernels/check.h"
#include "tests/train_cases.h"
#include "tests/util.h"

using namespace cudarts;
using namespace cudarts::bench;

namespace {

// Sets CUDARTS_TEST_BIG_BATCH (or unsets it) for one scope, restoring the value it had.
class BigBatchEnv {
public:
    explicit BigBatchEnv(const char* value) {
        if (const char* old = std::getenv(kName)) old_ = old;
        set(value);
    }
    ~BigBatchEnv() { set(old_ ? old_->c_str() : nullptr); }
    BigBatchEnv(const BigBatchEnv&) = delete;
    BigBatchEnv& operator=(const BigBatchEnv&) = delete;

private:
    static constexpr const char* kName = "CUDARTS_TEST_BIG_BATCH";
    static void set(const char* value) {
        if (value)
            ::setenv(kName, value, 1);
        else
            ::unsetenv(kName);
    }
    std::optional<std::string> old_;
};

}  // namespace

TEST_SUITE("bench") {
    TEST_CASE("bench shapes: every list validates, and its DARTS shapes take the batch given") {
        CHECK(shapes::odd_conv2d().size() == 19);
        for (const Conv2dShape& s : shapes::odd_conv2d()) s.validate();
        for (const int n : {1, 5, shapes::kPaperBatch}) {
            CAPTURE(n);
            CHECK(shapes::darts_conv2d(n).size() == 24 + 8 + 3 + 3);
            for (const Conv2dShape& s : shapes::darts_conv2d(n)) {
                s.validate();
                CHECK(s.n == n);
            }
            for (const Conv2dShape& s : shapes::darts_pointwise(n)) CHECK(s.is_pointwise());
            CHECK(shapes::darts_pool2d(n).size() == 6);
            for (const Pool2dShape& s : shapes::darts_pool2d(n)) CHECK(s.n == n);
            for (const Pool2dShape& s : shapes::pool2d(n)) s.validate();
            for (const SubsampleShape& s : shapes::subsample(n)) s.validate();
            for (const ChannelRangeShape& s : shapes::channel_range(n)) s.validate();
            for (const BatchNormShape& s : shapes::batch_norm(n)) {
                s.validate();
                CHECK(s.per_channel() >= 2);  // training needs two values per channel
            }
            CHECK(shapes::kDartsPlanes[0].elems(n) == int64_t(n) * 16 * 32 * 32);
            CHECK(shapes::kDartsPlanes[2].name(n) == "DARTS N=" + std::to_string(n) + " C=64 8x8");
        }
    }

    TEST_CASE("big_batch: CUDARTS_TEST_BIG_BATCH, 64 when unset, a positive integer or an error") {
        {
            const BigBatchEnv env(nullptr);
            CHECK(test::big_batch() == 64);
        }
        {
            const BigBatchEnv env("3");
            CHECK(test::big_batch() == 3);
        }
        for (const char* bad : {"0", "-2", "abc", "4x", "", "99999999999"}) {
            CAPTURE(bad);
            const BigBatchEnv env(bad);
            CHECK(test::error_of([] { test::big_batch(); }) ==
                  "CUDARTS_TEST_BIG_BATCH: expected a positive integer, got '" + std::string(bad) +
                      "'");
        }
    }

    TEST_CASE("bench: medians, peaks, shapes and filters") {
        CHECK(median_of({3, 1, 2}) == 2);
        CHECK(median_of({4, 1, 3, 2}) == 2.5);
        CHECK(peak_gbps_by_name("NVIDIA H100 80GB HBM3") == 3352);
        CHECK(peak_gbps_by_name("NVIDIA H100 PCIe") == 2039);
        CHECK(peak_gbps_by_name("NVIDIA H200") == 4800);
        CHECK(peak_gbps_by_name("Tesla T4") == 0);
        for (int dil : {1, 2}) {
            const std::vector<Conv2dShape> shapes =
                shapes::darts_depthwise(shapes::kPaperBatch, dil);
            CHECK(shapes.size() == 12);
            for (const Conv2dShape& s : shapes) {
                s.validate();
                CHECK(s.groups == s.c_in);
                CHECK(s.n == 64);
                CHECK(s.dil == dil);
                CHECK(s.ho() == (s.stride == 1 ? s.h : s.h / 2));
            }
        }
        CHECK(name_matches("", "a", "b"));
        CHECK(name_matches("bwd", "x.bwd.v1", ""));
        CHECK(name_matches("32, 16", "r", "(64, 32, 16, 16)"));
        CHECK(!name_matches("zz", "a", "b"));
    }

    TEST_CASE("bench: the table and the JSON report every row, missing baselines as null") {
        BenchReport r;
        r.device = "fake";
        r.peak_gbps = 3352;
        r.peak_source = "--peak-gbps";
        r.runs = 20;
        r.warmup = 5;
        const BenchRow b{.name = "dwconv3x3.fwd.v2",
                         .shape = "(64, 16, 32, 32) k3 s1",
                         .median_ms = 0.01,
                         .min_ms = 0.009,
                         .flops = 1e6,
                         .gbps = 1000,
                         .roofline = 0.298,
                         .tflops = 0.1,
                         .baseline = "cudnn",
                         .baseline_ms = 0.02,
                         .ratio = 0.5};
        r.rows.push_back(b);
        BenchRow c = b;
        c.name = "relu.fwd.v1";
        c.flops = 0;
        c.baseline = "n/a (no baseline row)";
        c.baseline_ms = 0;
        c.ratio = 0;
        r.rows.push_back(c);
        const std::string table = format_table(r);
        CHECK(table.find("dwconv3x3.fwd.v2") != std::string::npos);
        CHECK(table.find("relu.fwd.v1") != std::string::npos);
        const nlohmann::json j = to_json(r);
        CHECK(j["rows"].size() == 2);
        CHECK(j["rows"][1]["baseline_ms"].is_null());
        CHECK(j["rows"][0]["ratio"] == 0.5);
        CHECK(j["peak_source"] == "--peak-gbps");
        BenchOptions few;
        few.runs = 5;
        CHECK_THROWS_AS(run_kernel_bench(few), InputError);
    }

    TEST_CASE("bench step: tiny CPU steps are timed, count nothing, and reach the table and JSON") {
        const StepBenchReport r = run_step_bench(test::tiny_step_bench(Device::cpu(), 3));
        REQUIRE(r.warmup_steps.size() == 1);
        REQUIRE(r.timed_steps.size() == 3);
        for (const StepSample& s : r.timed_steps) {
            CHECK(std::isfinite(s.loss));
            CHECK(s.loss > 0);
            CHECK(s.seconds > 0);
            CHECK(s.counts.launches + s.counts.device_allocs + s.counts.host_syncs == 0);
        }
        CHECK(r.min_s <= r.median_s);
        CHECK(r.median_s <= r.max_s);
        CHECK(r.per_step.launches == 0);
        const std::string table = format_step_table(r);
        CHECK(table.find("first order, batch 2, C=4, 3 cells, 1 nodes, 3x8x8, 3 classes") !=
              std::string::npos);
        CHECK(table.find("kernel launches") != std::string::npos);
        const nlohmann::json j = step_to_json(r);
        CHECK(j["order"] == 1);
        CHECK(j["timed_steps"].size() == 3);
        CHECK(j["warmup_steps"].size() == 1);
        CHECK(j["per_step"]["device_allocs"] == 0);
        CHECK(j["median_s"] == r.median_s);
        CHECK(j["timed_steps"][2]["loss"] == r.timed_steps[2].loss);
    }

    TEST_CASE("bench step: a bad batch, step count, warm-up or image size is one InputError") {
        const auto error = [](auto change) {
            bench::StepBenchOptions o;
            change(o);
            return test::error_of([&] { o.validate(); });
        };
        CHECK(error([](StepBenchOptions& o) { o.batch = 1; }) ==
              "--batch: expected at least 2 images, got 1");
        CHECK(error([](StepBenchOptions& o) { o.steps = 0; }) ==
              "--steps: expected at least 1 timed step, got 0");
        CHECK(error([](StepBenchOptions& o) { o.warmup = -1; }) ==
              "--warmup: expected 0 or more steps, got -1");
        CHECK(error([](StepBenchOptions& o) { o.image_size = 4; }) ==
              "--image-size: expected at least 8 pixels, got 4");
        bench::StepBenchOptions bad;
        bad.steps = 0;
        CHECK_THROWS_AS(run_step_bench(bad), InputError);
    }
}
