// The search-step benchmark (bench/step_bench.h): fixed batches on the device, a step timed and
// counted at a time, and its table and JSON.
#include "bench/step_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "bench/kernel_bench.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "kernels/check.h"
#include "models/run/search.h"

namespace cudarts::bench {

void StepBenchOptions::validate() const {
    if (batch < 2)
        throw InputError("--batch: expected at least 2 images, got " + std::to_string(batch));
    if (steps < 1)
        throw InputError("--steps: expected at least 1 timed step, got " + std::to_string(steps));
    if (warmup < 0)
        throw InputError("--warmup: expected 0 or more steps, got " + std::to_string(warmup));
    if (image_size < 8)
        throw InputError("--image-size: expected at least 8 pixels, got " +
                         std::to_string(image_size));
}

namespace {

// Waits until the device has finished everything queued so far: a read of α to the host is
// ordered after all earlier work on the legacy default stream. Nothing to wait for on the CPU.
void synchronize(Search& search, Device dev) {
    if (dev.is_cuda()) (void)search.network().alphas_normal().value().to_vector();
}

nlohmann::json counts_json(const RuntimeCounters& c) {
    return {{"launches", c.launches},           {"blas_calls", c.blas_calls},
            {"device_allocs", c.device_allocs}, {"host_syncs", c.host_syncs},
            {"h2d_copies", c.h2d_copies},       {"peak_bytes", c.peak_bytes}};
}

nlohmann::json families_json(const std::vector<FamilyLaunches>& families) {
    nlohmann::json j = nlohmann::json::object();
    for (const FamilyLaunches& f : families) j[f.family] = f.launches;
    return j;
}

}  // namespace

StepBenchReport run_step_bench(const StepBenchOptions& opt,
                               const std::function<void(int, int, bool)>& on_step) {
    opt.validate();
    StepBenchReport rep;
    rep.device = describe(opt.device);
    rep.options = opt;

    // Two batches' worth of images: the first half trains the weights, the second α.
    const ImageDataset data =
        make_synthetic(2 * opt.batch, opt.image_channels, opt.image_size, opt.classes, opt.seed);
    SearchOptions so;
    so.net = opt.net;
    so.epochs = 1;
    so.batch_size = opt.batch;
    so.train_portion = 0.5;
    so.second_order = opt.second_order;
    so.seed = opt.seed;
    so.augment = {};
    Search search(so, data, opt.device);

    // The two batches, uploaded once, in file order and without augmentation.
    BatchRequest train_req, val_req;
    for (int i = 0; i < opt.batch; ++i) {
        train_req.idx.push_back(i);
        val_req.idx.push_back(opt.batch + i);
    }
    val_req.key = 1;
    Batch train, val;
    {
        BatchLoader loader(data, so.augment, opt.seed, opt.device);
        loader.start({train_req, val_req});
        train = loader.next();
        val = loader.next();
    }
    synchronize(search, opt.device);

    const int total = opt.warmup + opt.steps;
    EpochAccumulator sums;
    for (int i = 0; i < total; ++i) {
        const bool timed = i >= opt.warmup;
        const StepPlace at{0, i, double(so.w_lr)};
        reset_runtime_counters();
        const auto t0 = std::chrono::steady_clock::now();
        StepSample s;
        s.loss = search.step(train, val, at, sums);
        s.counts = runtime_counters();  // before the closing read, which is not the step's
        s.families = launches_by_family();
        synchronize(search, opt.device);
        s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        (timed ? rep.timed_steps : rep.warmup_steps).push_back(s);
        if (on_step) on_step(i, total, timed);
    }

    std::vector<double> secs;
    for (const StepSample& s : rep.timed_steps) {
        secs.push_back(s.seconds);
        RuntimeCounters& m = rep.per_step;
        const RuntimeCounters& c = s.counts;
        m.launches = std::max(m.launches, c.launches);
        m.blas_calls = std::max(m.blas_calls, c.blas_calls);
        m.device_allocs = std::max(m.device_allocs, c.device_allocs);
        m.host_syncs = std::max(m.host_syncs, c.host_syncs);
        m.h2d_copies = std::max(m.h2d_copies, c.h2d_copies);
        m.bytes_in_use = std::max(m.bytes_in_use, c.bytes_in_use);
        m.peak_bytes = std::max(m.peak_bytes, c.peak_bytes);
    }
    rep.median_s = median_of(secs);
    rep.min_s = *std::min_element(secs.begin(), secs.end());
    rep.max_s = *std::max_element(secs.begin(), secs.end());
    return rep;
}

std::string format_step_table(const StepBenchReport& r) {
    const StepBenchOptions& o = r.options;
    std::ostringstream os;
    os << "device: " << r.device << "\n";
    os << "search step, " << (o.second_order ? "second" : "first") << " order, batch " << o.batch
       << ", C=" << o.net.init_channels << ", " << o.net.layers << " cells, " << o.net.nodes
       << " nodes, " << o.image_channels << "x" << o.image_size << "x" << o.image_size << ", "
       << o.classes << " classes; " << o.warmup << " warm-up and " << o.steps
       << " timed steps, each synchronized at both ends\n";
    // The first step overall (where the caching allocator fills) beside the timed steps.
    const bool has_first = !r.warmup_steps.empty() || !r.timed_steps.empty();
    const StepSample first = !r.warmup_steps.empty()
                                 ? r.warmup_steps.front()
                                 : (has_first ? r.timed_steps.front() : StepSample{});
    char line[160];
    std::snprintf(line, sizeof line, "%-22s %14s %16s\n", "per step", "first step", "timed steps");
    os << line;
    std::snprintf(line, sizeof line, "%-22s %14.4f %16.4f  (median; min %.4f, max %.4f)\n",
                  "seconds", first.seconds, r.median_s, r.min_s, r.max_s);
    os << line;
    const auto row = [&](const char* name, int64_t a, int64_t b) {
        std::snprintf(line, sizeof line, "%-22s %14lld %16lld\n", name, (long long)a, (long long)b);
        os << line;
    };
    const RuntimeCounters& f = first.counts;
    const RuntimeCounters& m = r.per_step;
    row("kernel launches", f.launches, m.launches);
    row("cuBLAS calls", f.blas_calls, m.blas_calls);
    row("device allocations", f.device_allocs, m.device_allocs);
    row("host syncs", f.host_syncs, m.host_syncs);
    row("host-to-device copies", f.h2d_copies, m.h2d_copies);
    std::snprintf(line, sizeof line, "%-22s %14.1f %16.1f\n", "peak device MiB",
                  double(f.peak_bytes) / (1 << 20), double(m.peak_bytes) / (1 << 20));
    os << line;
    os << "(timed steps: the median time, and the largest of each count)\n";
    if (!r.timed_steps.empty() && !r.timed_steps.back().families.empty()) {
        os << "kernel launches by family (kernels/cuda/<family>.cu), last timed step:\n";
        for (const FamilyLaunches& f : r.timed_steps.back().families) {
            std::snprintf(line, sizeof line, "  %-20s %8lld\n", f.family.c_str(),
                          (long long)f.launches);
            os << line;
        }
    }
    return os.str();
}

nlohmann::json step_to_json(const StepBenchReport& r) {
    const StepBenchOptions& o = r.options;
    const auto samples = [](const std::vector<StepSample>& v) {
        nlohmann::json a = nlohmann::json::array();
        for (const StepSample& s : v) {
            nlohmann::json j = counts_json(s.counts);
            j["launches_by_family"] = families_json(s.families);
            j["seconds"] = s.seconds;
            j["loss"] = s.loss;
            a.push_back(std::move(j));
        }
        return a;
    };
    return {{"benchmark", "step"},
            {"device", r.device},
            {"order", o.second_order ? 2 : 1},
            {"batch", o.batch},
            {"init_channels", o.net.init_channels},
            {"layers", o.net.layers},
            {"nodes", o.net.nodes},
            {"image", {o.image_channels, o.image_size, o.image_size}},
            {"classes", o.classes},
            {"warmup", o.warmup},
            {"steps", o.steps},
            {"median_s", r.median_s},
            {"min_s", r.min_s},
            {"max_s", r.max_s},
            {"per_step", counts_json(r.per_step)},
            {"warmup_steps", samples(r.warmup_steps)},
            {"timed_steps", samples(r.timed_steps)}};
}

}  // namespace cudarts::bench
