// `cudarts bench kernels`: the kernel benchmark of bench/kernel_bench.h. Prints the table on
// stdout (progress on stderr) and, with --json FILE, writes the same rows as JSON (atomically).
// Without a CUDA device it fails with one line, exit 2, before timing anything.
#include <cstdio>
#include <cxxopts.hpp>
#include <exception>
#include <string>

#include "apps/subcommands.h"
#include "bench/kernel_bench.h"
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

}  // namespace

int cmd_bench(int argc, char** argv) {
    cxxopts::Options opts("cudarts bench",
                          "Benchmark the CUDA kernels on the DARTS shapes (batch 64): "
                          "cudarts bench kernels [options]");
    opts.add_options()("what", "what to benchmark: kernels", cxxopts::value<std::string>())(
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
    opts.positional_help("kernels");
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    if (!args.count("what")) throw InputError("bench: expected what to benchmark ('kernels')");
    const std::string what = args["what"].as<std::string>();
    if (what != "kernels")
        throw InputError("bench: unknown benchmark '" + what + "' (expected 'kernels')");

    bench::BenchOptions o;
    o.runs = parse_count(args["runs"].as<std::string>(), "--runs");
    o.warmup = parse_count(args["warmup"].as<std::string>(), "--warmup");
    o.filter = args["filter"].as<std::string>();
    o.peak_gbps = args["peak-gbps"].as<double>();
    o.flush_l2 = !args.count("warm-l2");
    const bench::BenchReport rep = bench::run_kernel_bench(o);
    if (rep.rows.empty()) throw InputError("--filter: no benchmark row matches '" + o.filter + "'");

    std::fputs(bench::format_table(rep).c_str(), stdout);
    if (args.count("json")) {
        const std::string path = args["json"].as<std::string>();
        const std::string text = bench::to_json(rep).dump(2) + "\n";
        write_file_atomic(path, text.data(), text.size());
        std::printf("wrote %s\n", path.c_str());
    }
    return 0;
}

}  // namespace cudarts::apps
