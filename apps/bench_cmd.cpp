// `cudarts bench kernels`: the kernel benchmark of bench/kernel_bench.h. Prints the table on
// stdout (progress on stderr) and, with --json FILE, writes the same rows as JSON (atomically).
// Without a CUDA device it fails with one line, exit 2, before timing anything.
// `cudarts bench step`: the search-step benchmark of bench/step_bench.h, on the CPU or the GPU
// (--device, default auto), with the same table-plus-JSON output and a progress line per step
// on stderr.
#include <cstdio>
#include <cxxopts.hpp>
#include <exception>
#include <string>

#include "apps/subcommands.h"
#include "bench/kernel_bench.h"
#include "bench/step_bench.h"
#include "engine/device.h"
#include "engine/fileio.h"
#include "kernels/check.h"

namespace cudarts::apps {

namespace {

// A non-negative integer flag, parsed here rather than by cxxopts: GCC 12 at -O3 reports a false
// -Wrestrict inside cxxopts' integer parser when it is inlined into this file.
int parse_count(const std::string& text, const char* flag) {
    size_t used = 0;
    int v = -1;
    try {
        v = std::stoi(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || text.empty() || v < 0)
        throw InputError(std::string(flag) + ": expected a non-negative integer, got '" + text +
                         "'");
    return v;
}

// The count flag `name` (kept as text by cxxopts) read by parse_count, its messages naming --name.
int count_flag(const cxxopts::ParseResult& args, const std::string& name) {
    return parse_count(args[name].as<std::string>(), ("--" + name).c_str());
}

// Writes `j` to `path` atomically and says so.
void write_json(const std::string& path, const nlohmann::json& j) {
    const std::string text = j.dump(2) + "\n";
    write_file_atomic(path, text.data(), text.size());
    std::printf("wrote %s\n", path.c_str());
}

// The count flags of `bench step`, in the order its help lists them: name, help, default.
struct CountFlag {
    const char* name;
    const char* help;
    const char* default_value;
};
constexpr CountFlag kStepCounts[] = {
    {"order", "architect: 1 (first order) or 2 (second order)", "1"},
    {"batch", "images per batch (both halves)", "64"},
    {"steps", "timed steps", "20"},
    {"warmup", "untimed steps before timing", "10"},
    {"init-channels", "C of the search network", "16"},
    {"layers", "cells", "8"},
    {"nodes", "intermediate nodes per cell", "4"},
    {"image-size", "side of the square synthetic images", "32"},
};

int bench_step(int argc, char** argv) {
    cxxopts::Options opts("cudarts bench step",
                          "Time and count one DARTS search step (architect + weight step) at "
                          "CIFAR-10 shapes on synthetic data: cudarts bench step [options]");
    opts.add_options()("what", "what to benchmark: step", cxxopts::value<std::string>())(
        "device", "cpu, cuda, cuda:N or auto",
        cxxopts::value<std::string>()->default_value("auto"));
    for (const CountFlag& c : kStepCounts)
        opts.add_options()(c.name, c.help,
                           cxxopts::value<std::string>()->default_value(c.default_value));
    opts.add_options()("json", "also write the report as JSON to FILE",
                       cxxopts::value<std::string>());
    opts.parse_positional({"what"});
    opts.positional_help("step");
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;

    bench::StepBenchOptions o;
    o.device = parse_device(args["device"].as<std::string>(), "--device");
    const int order = count_flag(args, "order");
    if (order != 1 && order != 2)
        throw InputError("--order: expected 1 or 2, got " + std::to_string(order));
    o.second_order = order == 2;
    o.batch = count_flag(args, "batch");
    o.steps = count_flag(args, "steps");
    o.warmup = count_flag(args, "warmup");
    o.net.init_channels = count_flag(args, "init-channels");
    o.net.layers = count_flag(args, "layers");
    o.net.nodes = count_flag(args, "nodes");
    o.image_size = count_flag(args, "image-size");
    const bench::StepBenchReport rep = bench::run_step_bench(o, [](int i, int total, bool timed) {
        std::fprintf(stderr, "bench step: %s step %d/%d done\n", timed ? "timed" : "warm-up", i + 1,
                     total);
    });
    std::fputs(bench::format_step_table(rep).c_str(), stdout);
    if (args.count("json")) write_json(args["json"].as<std::string>(), bench::step_to_json(rep));
    return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    if (argc >= 2 && std::string(argv[1]) == "step") return bench_step(argc, argv);
    cxxopts::Options opts("cudarts bench",
                          "Benchmark the CUDA kernels on the DARTS shapes (batch 64): "
                          "cudarts bench kernels [options]; the search step: cudarts bench step "
                          "--help");
    opts.add_options()("what", "what to benchmark: kernels or step", cxxopts::value<std::string>())(
        "json", "also write the rows as JSON to FILE", cxxopts::value<std::string>())(
        "runs", "timed runs per row (at least 20)",
        cxxopts::value<std::string>()->default_value("20"))(
        "warmup", "untimed runs before timing", cxxopts::value<std::string>()->default_value("5"))(
        "filter", "only rows whose name or shape contains SUBSTR",
        cxxopts::value<std::string>()->default_value(""))(
        "peak-gbps", "DRAM peak in GB/s for the roofline (0: ask the device)",
        cxxopts::value<double>()->default_value("0"))(
        "warm-l2", "do not flush the L2 cache between timed runs");
    opts.parse_positional({"what"});
    opts.positional_help("kernels|step");
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    if (!args.count("what"))
        throw InputError("bench: expected what to benchmark ('kernels' or 'step')");
    const std::string what = args["what"].as<std::string>();
    if (what != "kernels")
        throw InputError("bench: unknown benchmark '" + what +
                         "' (expected 'kernels', or 'step' first: cudarts bench step [options])");

    bench::BenchOptions o;
    o.runs = count_flag(args, "runs");
    o.warmup = count_flag(args, "warmup");
    o.filter = args["filter"].as<std::string>();
    o.peak_gbps = args["peak-gbps"].as<double>();
    o.flush_l2 = !args.count("warm-l2");
    const bench::BenchReport rep = bench::run_kernel_bench(o);
    if (rep.rows.empty()) throw InputError("--filter: no benchmark row matches '" + o.filter + "'");

    std::fputs(bench::format_table(rep).c_str(), stdout);
    if (args.count("json")) write_json(args["json"].as<std::string>(), bench::to_json(rep));
    return 0;
}

}  // namespace cudarts::apps
