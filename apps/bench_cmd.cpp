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

// Writes `j` to `path` atomically and says so.
void write_json(const std::string& path, const nlohmann::json& j) {
    const std::string text = j.dump(2) + "\n";
    write_file_atomic(path, text.data(), text.size());
    std::printf("wrote %s\n", path.c_str());
}

int bench_step(int argc, char** argv) {
    cxxopts::Options opts("cudarts bench step",
                          "Time and count one DARTS search step (architect + weight step) at "
                          "CIFAR-10 shapes on synthetic data: cudarts bench step [options]");
    opts.add_options()("what", "what to benchmark: step", cxxopts::value<std::string>())(
        "device", "cpu, cuda, cuda:N or auto",
        cxxopts::value<std::string>()->default_value("auto"))(
        "order", "architect: 1 (first order) or 2 (second order)",
        cxxopts::value<std::string>()->default_value("1"))(
        "batch", "images per batch (both halves)",
        cxxopts::value<std::string>()->default_value("64"))(
        "steps", "timed steps", cxxopts::value<std::string>()->default_value("20"))(
        "warmup", "untimed steps before timing",
        cxxopts::value<std::string>()->default_value("10"))(
        "init-channels", "C of the search network",
        cxxopts::value<std::string>()->default_value("16"))(
        "layers", "cells", cxxopts::value<std::string>()->default_value("8"))(
        "nodes", "intermediate nodes per cell", cxxopts::value<std::string>()->default_value("4"))(
        "image-size", "side of the square synthetic images",
        cxxopts::value<std::string>()->default_value("32"))(
        "json", "also write the report as JSON to FILE", cxxopts::value<std::string>());
    opts.parse_positional({"what"});
    opts.positional_help("step");
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;

    bench::StepBenchOptions o;
    o.device = parse_device(args["device"].as<std::string>(), "--device");
    const int order = parse_count(args["order"].as<std::string>(), "--order");
    if (order != 1 && order != 2)
        throw InputError("--order: expected 1 or 2, got " + std::to_string(order));
    o.second_order = order == 2;
    o.batch = parse_count(args["batch"].as<std::string>(), "--batch");
    o.steps = parse_count(args["steps"].as<std::string>(), "--steps");
    o.warmup = parse_count(args["warmup"].as<std::string>(), "--warmup");
    o.net.init_channels = parse_count(args["init-channels"].as<std::string>(), "--init-channels");
    o.net.layers = parse_count(args["layers"].as<std::string>(), "--layers");
    o.net.nodes = parse_count(args["nodes"].as<std::string>(), "--nodes");
    o.image_size = parse_count(args["image-size"].as<std::string>(), "--image-size");
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
    o.runs = parse_count(args["runs"].as<std::string>(), "--runs");
    o.warmup = parse_count(args["warmup"].as<std::string>(), "--warmup");
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
