// Subcommand table and the two small commands: inspect (list a safetensors file) and info (what
// this machine offers).
#include "apps/subcommands.h"

#include <cstdio>
#include <cstring>
#include <cxxopts.hpp>
#include <string>

#include "engine/device.h"
#include "engine/safetensors.h"
#include "kernels/check.h"

namespace cudarts::apps {

namespace {

struct Subcommand {
    const char* name;
    int (*fn)(int, char**);
    int (*rnn)(int, char**);  // with --task rnn; null where there is no recurrent variant
    const char* help;
};

constexpr Subcommand kSubcommands[] = {
    {"search", cmd_search, cmd_rnn_search,
     "DARTS architecture search (first or second order); a Katib trial; --task rnn: a "
     "recurrent cell on text"},
    {"derive", cmd_derive, nullptr, "print the genotype of a search checkpoint"},
    {"visualize", cmd_visualize, nullptr,
     "draw a genotype's cells and a search's alphas (DOT, SVG)"},
    {"train", cmd_train, cmd_rnn_train,
     "train a genotype from scratch (the paper's recipe by default); --task rnn with NT-ASGD"},
    {"hpsearch", cmd_hpsearch, nullptr,
     "weighted random hyperparameter search (autoNet's) over train, search or any program"},
    {"enas", cmd_enas, nullptr,
     "ENAS search with Katib's controller and shared child weights (--mode micro: a DARTS cell)"},
    {"enas-trial", cmd_enas_trial, nullptr,
     "train one ENAS child from Katib's --architecture and --nn_config (Katib's trial)"},
    {"test", cmd_test, cmd_rnn_test, "evaluate a checkpoint with the reference's parameter names"},
    {"inspect", cmd_inspect, nullptr, "list the tensors and metadata of a .safetensors file"},
    {"info", cmd_info, nullptr, "show the devices this build can use"},
    {"bench", cmd_bench, nullptr,
     "time the CUDA kernels on the DARTS shapes (bench kernels) and a whole search step with its "
     "launch, allocation and sync counts (bench step)"},
};

// The value of --task (as "--task X" or "--task=X"), removed from argv; "cnn" when absent.
std::string take_task(int& argc, char** argv) {
    std::string task = "cnn";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        int used = 0;
        if (a == "--task") {
            if (i + 1 >= argc) throw InputError("--task: expected cnn or rnn");
            task = argv[i + 1];
            used = 2;
        } else if (a.rfind("--task=", 0) == 0) {
            task = a.substr(7);
            used = 1;
        }
        if (!used) continue;
        for (int j = i; j + used < argc; ++j) argv[j] = argv[j + used];
        argc -= used;
        --i;
    }
    if (task != "cnn" && task != "rnn")
        throw InputError("--task: expected cnn or rnn, got '" + task + "'");
    return task;
}

void print_usage(std::FILE* out) {
    std::fprintf(out, "usage: cudarts <subcommand> [options]   (cudarts <subcommand> --help)\n");
    for (const Subcommand& s : kSubcommands) std::fprintf(out, "  %-10s %s\n", s.name, s.help);
}

}  // namespace

bool parse_args(cxxopts::Options& opts, int argc, char** argv, cxxopts::ParseResult& out) {
    opts.add_options()("h,help", "show this help");
    out = opts.parse(argc, argv);
    if (out.count("help")) {
        std::printf("%s\n", opts.help().c_str());
        return false;
    }
    if (!out.unmatched().empty())
        throw InputError("unexpected argument '" + out.unmatched()[0] + "'");
    return true;
}

bool second_order_flags(const cxxopts::ParseResult& args, bool current) {
    if (args.count("order")) {
        const int order = args["order"].as<int>();
        if (order != 1 && order != 2)
            throw InputError("--order: expected 1 or 2, got " + std::to_string(order));
        current = order == 2;
    }
    return current || args.count("unrolled") > 0;
}

int run_subcommand(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const Subcommand& s : kSubcommands) {
        if (std::strcmp(argv[1], s.name) != 0) continue;
        int n = argc - 1;
        const bool rnn = take_task(n, argv + 1) == "rnn";
        if (rnn && !s.rnn)
            throw InputError(std::string("--task rnn: ") + s.name +
                             " has no recurrent variant (expected search, train or test)");
        return rnn ? s.rnn(n, argv + 1) : s.fn(n, argv + 1);
    }
    std::string names;
    for (const Subcommand& s : kSubcommands)
        names += std::string(names.empty() ? "" : ", ") + s.name;
    throw InputError(std::string("unknown subcommand '") + argv[1] + "' (expected one of " + names +
                     ")");
}

int cmd_inspect(int argc, char** argv) {
    cxxopts::Options opts("cudarts inspect", "List the tensors of a .safetensors file.");
    opts.add_options()("file", "the .safetensors file", cxxopts::value<std::string>());
    opts.parse_positional({"file"});
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    if (!args.count("file")) throw InputError("inspect: expected a .safetensors file argument");
    const SafetensorsFile f = read_safetensors(args["file"].as<std::string>());
    int64_t total = 0;
    for (const auto& [name, t] : f.tensors) {
        std::string shape = "[";
        for (size_t i = 0; i < t.shape.size(); ++i)
            shape += (i ? ", " : "") + std::to_string(t.shape[i]);
        std::printf("%-60s %-4s %s\n", name.c_str(), dtype_name(t.dtype), (shape + "]").c_str());
        total += t.numel();
    }
    for (const auto& [k, v] : f.metadata) std::printf("metadata %s = %s\n", k.c_str(), v.c_str());
    std::printf("%zu tensors, %lld elements\n", f.tensors.size(), static_cast<long long>(total));
    return 0;
}

int cmd_info(int argc, char** argv) {
    cxxopts::Options opts("cudarts info", "Show the devices this build can use.");
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    std::printf("cpu: %s\n", describe(Device::cpu()).c_str());
    const int n = cuda_device_count();
    if (n == 0)
        std::printf("cuda: none (%s); the CPU backend is used\n",
                    cuda_unavailable_reason().c_str());
    for (int i = 0; i < n; ++i) std::printf("cuda:%d: %s\n", i, describe(Device::cuda(i)).c_str());
    return 0;
}

}  // namespace cudarts::apps
