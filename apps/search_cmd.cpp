// `cudarts search` (DARTS search, also a drop-in for Katib's DARTS trial container) and
// `cudarts derive` (the genotype of a search checkpoint).
//
// search writes into --out DIR, each file atomically: checkpoint.safetensors (every epoch),
// metrics.jsonl (one JSON object per epoch), genotype.txt / genotype.json (the latest) and
// epochs/genotype_NNN.txt / .json (after epoch NNN, 1-based). Its last two stdout lines are
// Katib's metrics: `Validation-Accuracy=0.xxxx` and `Best-Genotype=Genotype(...)` (the genotype of
// the epoch with the best validation accuracy, Katib's rule, in Katib's form).
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <sstream>

#include "apps/katib.h"
#include "apps/progress.h"
#include "apps/run_dir.h"
#include "apps/setting_names.h"
#include "apps/subcommands.h"
#include "engine/fileio.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/run/search.h"
#include "models/run/search_checkpoint.h"

namespace fs = std::filesystem;

namespace cudarts::apps {

namespace {

// A preset: the defaults for a run with no network or data-size flags.
struct Preset {
    const char* name;
    int layers, init_channels, nodes, epochs, batch_size;
    int64_t subset;  // training images used (0 = all)
};
constexpr Preset kCpuPreset{"cpu-small", 5, 8, 4, 3, 32, 1024};
constexpr Preset kPaperPreset{"paper", 8, 16, 4, 50, 64, 0};

std::string fixed4(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

// The Katib trial's settings over our options (reference/katib.md 1.4).
void apply_katib_settings(const std::map<std::string, std::string>& s, SearchOptions& o) {
    o.epochs = katib_int(s, "num_epochs", 50);
    o.w_lr = float(katib_float(s, "w_lr", 0.025));
    o.w_lr_min = float(katib_float(s, "w_lr_min", 0.001));
    o.w_momentum = float(katib_float(s, "w_momentum", 0.9));
    o.w_weight_decay = float(katib_float(s, "w_weight_decay", 3e-4));
    o.w_grad_clip = float(katib_float(s, "w_grad_clip", 5.0));
    o.alpha_lr = float(katib_float(s, "alpha_lr", 3e-4));
    o.alpha_weight_decay = float(katib_float(s, "alpha_weight_decay", 1e-3));
    o.batch_size = katib_int(s, "batch_size", 128);
    o.net.init_channels = katib_int(s, "init_channels", 16);
    o.net.nodes = katib_int(s, "num_nodes", 4);
    o.net.stem_multiplier = katib_int(s, "stem_multiplier", 3);
    o.second_order = !katib_bool(s, "first_order", false);  // Katib's trial is second order
    const int seed = katib_int(s, "seed", 2);
    if (seed < 0)  // as --seed: a negative seed must not wrap to 2^64 - 1
        throw InputError("--algorithm-settings: seed is '" + std::to_string(seed) +
                         "'; expected a non-negative integer");
    o.seed = uint64_t(seed);
    o.train_portion = katib_float(s, "train_portion", 0.5);
    for (const std::string& k : unknown_katib_settings(s))
        std::printf("warning: --algorithm-settings: unknown setting '%s' ignored\n", k.c_str());
}

void print_alphas(const char* title, const std::vector<float>& p,
                  const std::vector<std::string>& primitives) {
    std::printf("%s\n", title);
    const size_t k = primitives.size();
    for (size_t r = 0; r < p.size() / k; ++r) {
        std::printf("  edge %2zu:", r);
        for (size_t j = 0; j < k; ++j) std::printf(" %.4f", p[r * k + j]);
        std::printf("\n");
    }
}

// The flag, or in a Katib trial the key, that sets each SearchOptions setting.
SettingNames flag_names(bool katib) {
    SettingNames names = {{"epochs", "--epochs"},
                          {"batch_size", "--batch-size"},
                          {"train_portion", "--train-portion"},
                          {"w_lr", "--learning-rate"},
                          {"w_lr_min", "--learning-rate-min"},
                          {"w_momentum", "--momentum"},
                          {"w_weight_decay", "--weight-decay"},
                          {"w_grad_clip", "--grad-clip"},
                          {"alpha_lr", "--arch-learning-rate"},
                          {"alpha_weight_decay", "--arch-weight-decay"},
                          {"init_channels", "--init-channels"},
                          {"layers", "--layers"},
                          {"nodes", "--nodes"},
                          {"stem_multiplier", "--stem-multiplier"},
                          {"primitives", "--primitives"}};
    if (!katib) return names;
    for (const char* key :
         {"batch_size", "train_portion", "w_lr", "w_lr_min", "w_momentum", "w_weight_decay",
          "w_grad_clip", "alpha_lr", "alpha_weight_decay", "init_channels", "stem_multiplier"})
        names[key] = std::string("--algorithm-settings: ") + key;
    names["epochs"] = "--algorithm-settings: num_epochs";
    names["nodes"] = "--algorithm-settings: num_nodes";
    names["layers"] = "--num-layers";
    names["primitives"] = "--search-space";
    return names;
}

struct RunState {
    double best_acc = -1;
    std::string best_genotype;  // DARTS form
};

using SearchInput = RunInput<SearchOptions>;

// The flags the user gave (only those: a flag's default is the options' own), over `in`: a
// preset for a new run, the run's saved settings on --resume.
void apply_search_flags(const cxxopts::ParseResult& args, SearchInput& in) {
    SearchOptions& o = in.options;
    if (args.count("layers")) o.net.layers = args["layers"].as<int>();
    if (args.count("init-channels")) o.net.init_channels = args["init-channels"].as<int>();
    if (args.count("nodes")) o.net.nodes = args["nodes"].as<int>();
    if (args.count("stem-multiplier")) o.net.stem_multiplier = args["stem-multiplier"].as<int>();
    if (args.count("primitives"))
        o.net.primitives = parse_primitive_list(args["primitives"].as<std::string>());
    if (args.count("epochs")) o.epochs = args["epochs"].as<int>();
    if (args.count("batch-size")) o.batch_size = args["batch-size"].as<int>();
    if (args.count("train-portion")) o.train_portion = args["train-portion"].as<double>();
    if (args.count("learning-rate")) o.w_lr = args["learning-rate"].as<float>();
    if (args.count("learning-rate-min")) o.w_lr_min = args["learning-rate-min"].as<float>();
    if (args.count("momentum")) o.w_momentum = args["momentum"].as<float>();
    if (args.count("weight-decay")) o.w_weight_decay = args["weight-decay"].as<float>();
    if (args.count("grad-clip")) o.w_grad_clip = args["grad-clip"].as<float>();
    if (args.count("arch-learning-rate")) o.alpha_lr = args["arch-learning-rate"].as<float>();
    if (args.count("arch-weight-decay"))
        o.alpha_weight_decay = args["arch-weight-decay"].as<float>();
    if (args.count("seed")) o.seed = args["seed"].as<uint64_t>();
    o.second_order = second_order_flags(args, o.second_order);
    if (args.count("no-augment")) o.augment = Augment{};
    if (args.count("derive-rule")) {
        const std::string rule = args["derive-rule"].as<std::string>();
        if (rule != "softmax" && rule != "katib")
            throw InputError("--derive-rule: expected softmax or katib, got '" + rule + "'");
        o.rule = rule == "katib" ? DeriveRule::kKatibLogits : DeriveRule::kSoftmax;
    }
    in.data.apply_flags(args);
}

// On --resume, what names each compared key: the flags of apply_search_flags.
SettingNames resume_names() {
    SettingNames names = flag_names(false);
    for (const auto& [key, flag] : std::initializer_list<std::pair<const char*, const char*>>{
             {"seed", "--seed"},
             {"order", "--order"},
             {"crop_pad", "--no-augment (crop_pad)"},
             {"flip", "--no-augment (flip)"},
             {"cutout", "--no-augment (cutout)"},
             {"derive_rule", "--derive-rule"}})
        names[key] = flag;
    RunData::name_flags(names);
    return names;
}

// genotype.txt / .json (the latest) and epochs/genotype_NNN.txt / .json after epoch NNN.
void write_genotypes(const fs::path& out, int epoch, const Genotype& g) {
    char stem[32];
    std::snprintf(stem, sizeof stem, "genotype_%03d", epoch);
    const std::string darts = to_darts_string(g) + "\n", json = to_json_string(g) + "\n";
    write_text(out / "epochs" / (std::string(stem) + ".txt"), darts);
    write_text(out / "epochs" / (std::string(stem) + ".json"), json);
    write_text(out / "genotype.txt", darts);
    write_text(out / "genotype.json", json);
}

}  // namespace

cxxopts::Options search_options() {
    cxxopts::Options opts("cudarts search",
                          "DARTS architecture search (Liu et al. 2019), first or second order.\n"
                          "With no flags: a preset that fits the device on the default data.");
    // clang-format off
    opts.add_options("data")
        ("dataset", "cifar10, cifar100, mnist, fashion-mnist or synthetic (env CUDARTS_DATASET)",
         cxxopts::value<std::string>())
        ("data", "directory with the data set's files (env CUDARTS_DATA); fashion-mnist "
                 "defaults to Debian's dataset-fashion-mnist", cxxopts::value<std::string>())
        ("subset", "use only the first N training images (0 = all)", cxxopts::value<int64_t>())
        ("train-portion", "fraction of the training set that trains the weights",
         cxxopts::value<double>()->default_value("0.5"))
        ("no-augment", "no random crop and flip");
    opts.add_options("search")
        ("preset", "auto, cpu-small or paper", cxxopts::value<std::string>()->default_value("auto"))
        ("epochs", "search epochs (also the cosine period)", cxxopts::value<int>())
        ("batch-size", "batch size of both halves", cxxopts::value<int>())
        ("order", "architect: 1 (first order) or 2 (second order, DARTS V2)",
         cxxopts::value<int>()->default_value("1"))
        ("unrolled", "same as --order 2 (the reference's flag)")
        ("layers", "cells, 1..64", cxxopts::value<int>())
        ("init-channels", "C, channels of the first cells, even, 2..256", cxxopts::value<int>())
        ("nodes", "intermediate nodes per cell, 1..16", cxxopts::value<int>())
        ("stem-multiplier", "stem width = multiplier * C, 1..8",
         cxxopts::value<int>()->default_value("3"))
        ("primitives", "comma-separated candidate ops, official or Katib names, in alpha column "
                       "order", cxxopts::value<std::string>())
        ("learning-rate", "weight SGD learning rate (cosine start)",
         cxxopts::value<float>()->default_value("0.025"))
        ("learning-rate-min", "cosine floor", cxxopts::value<float>()->default_value("0.001"))
        ("momentum", "weight SGD momentum", cxxopts::value<float>()->default_value("0.9"))
        ("weight-decay", "weight SGD weight decay", cxxopts::value<float>()->default_value("3e-4"))
        ("grad-clip", "global gradient-norm clip", cxxopts::value<float>()->default_value("5"))
        ("arch-learning-rate", "Adam learning rate for alpha",
         cxxopts::value<float>()->default_value("3e-4"))
        ("arch-weight-decay", "Adam weight decay for alpha",
         cxxopts::value<float>()->default_value("1e-3"))
        ("derive-rule", "genotype from softmax(alpha) (softmax, the reference) or raw logits (katib)",
         cxxopts::value<std::string>()->default_value("softmax"))
        ("seed", "random seed", cxxopts::value<uint64_t>()->default_value("2"))
        ("deterministic", "deterministic kernels (always the case in this version; accepted)");
    opts.add_options("run")
        ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"));
    add_output_flags(opts, "run", "search-out", "the search");
    opts.add_options("Katib trial")
        ("algorithm-settings", "Katib's settings, e.g. {'num_epochs': '3', 'w_lr': 0.025}",
         cxxopts::value<std::string>())
        ("search-space", "Katib's primitive list, e.g. ['separable_convolution_3x3', ...]",
         cxxopts::value<std::string>())
        ("num-layers", "Katib's number of cells", cxxopts::value<std::string>());
    // clang-format on
    return opts;
}

int cmd_search(int argc, char** argv) {
    cxxopts::Options opts = search_options();
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;

    const Device dev = parse_device(args["device"].as<std::string>(), "--device");
    const bool katib =
        args.count("algorithm-settings") || args.count("search-space") || args.count("num-layers");
    // Before anything is read or written: the directory is this run's alone (and usable).
    const RunDirectory run_dir(args, {"preset", "algorithm-settings", "search-space", "num-layers"},
                               "a search");
    const bool resume = run_dir.resume;
    const fs::path& out = run_dir.dir;
    const fs::path& ckpt = run_dir.checkpoint;

    SearchInput in{.options = {}, .data = RunData::from_environment()};
    RunState run;
    std::string last_metrics;  // the checkpoint's copy of its epoch's metrics.jsonl line
    if (resume) {
        const ResumeInfo saved = read_resume_info(ckpt, "search");
        in = resumed_input<SearchOptions>(
            saved, [&](SearchInput& r) { apply_search_flags(args, r); }, resume_names());
        last_metrics = saved.last_metrics();
        try {
            run.best_acc = std::stod(saved.at("best_valid_acc"));
        } catch (const std::logic_error&) {
            throw InputError(ckpt.string() + ": metadata 'best_valid_acc' is not a number");
        }
        run.best_genotype = saved.at("best_genotype");
    } else {
        const Preset& p = chosen_preset(args["preset"].as<std::string>(), dev.is_cpu()) == "paper"
                              ? kPaperPreset
                              : kCpuPreset;
        if (katib) {
            apply_katib_settings(
                args.count("algorithm-settings")
                    ? parse_algorithm_settings(args["algorithm-settings"].as<std::string>())
                    : std::map<std::string, std::string>{},
                in.options);
            in.options.net.primitives =
                args.count("search-space")
                    ? parse_search_space(args["search-space"].as<std::string>())
                    : darts_primitives();
            in.options.net.layers = args.count("num-layers")
                                        ? parse_num_layers(args["num-layers"].as<std::string>())
                                        : 8;
        } else {
            std::printf("preset: %s (%s)\n", p.name,
                        p.subset ? "reduced network on a subset, sized for a CPU"
                                 : "the paper's configuration");
            in.options.net.layers = p.layers;
            in.options.net.init_channels = p.init_channels;
            in.options.net.nodes = p.nodes;
            in.options.epochs = p.epochs;
            in.options.batch_size = p.batch_size;
            in.data.subset = p.subset;
        }
        apply_search_flags(args, in);
    }

    ImageDataset data = load_dataset(in.data.dataset, in.data.data, true);
    if (in.data.subset > 0 && in.data.subset < data.size()) data = slice(data, 0, in.data.subset);
    Search search = with_input_names(flag_names(katib && !resume),
                                     [&] { return Search(in.options, data, dev); });
    if (resume) search.load(ckpt.string());
    const SearchOptions& opt = search.options();
    const std::vector<std::string>& prims = opt.net.primitives;

    std::printf(
        "cudarts search: device %s; %s, %lld training images (%lld weights / %lld alpha), "
        "%dx%dx%d, %d classes\n",
        describe(dev).c_str(), in.data.dataset.c_str(), static_cast<long long>(data.size()),
        static_cast<long long>(search.train_images()),
        static_cast<long long>(search.valid_images()), data.channels, data.height, data.width,
        data.classes);
    std::printf(
        "network: C=%d, %d layers, %d nodes, %zu primitives; %lld weights; %s order; "
        "%d epochs of %d steps, batch %d\n",
        opt.net.init_channels, opt.net.layers, opt.net.nodes, prims.size(),
        static_cast<long long>(search.network().weights().total()),
        opt.second_order ? "second" : "first", opt.epochs, search.steps_per_epoch(),
        opt.batch_size);
    if (resume)
        std::printf("resuming %s after epoch %d of %d\n", out.c_str(), search.epoch(), opt.epochs);
    std::fflush(stdout);

    fs::create_directories(out / "epochs");
    MetricsLog metrics(out / "metrics.jsonl");
    if (resume && search.epoch() > 0) {  // complete what a kill after the checkpoint cut short
        metrics.resume(search.epoch(), last_metrics);
        write_genotypes(out, search.epoch(), search.genotype());
    }

    Progress progress(args["print-step"].as<int>());
    while (!search.done()) {
        const int e = search.epoch();
        std::printf("epoch %d/%d lr %.6f\n", e + 1, opt.epochs,
                    cosine_lr(opt.w_lr, opt.w_lr_min, e, opt.epochs));
        std::fflush(stdout);
        const EpochMetrics m = run_shown_epoch(search, progress, opt.epochs, "search", ckpt);

        const std::string darts = to_darts_string(m.genotype);
        if (m.valid_acc > run.best_acc) {
            run.best_acc = m.valid_acc;
            run.best_genotype = darts;
        }
        std::printf(
            "epoch %d/%d train_loss %.4f train_acc %.4f valid_loss %.4f valid_acc %.4f "
            "(%.1f s)\n",
            e + 1, opt.epochs, m.train_loss, m.train_acc, m.valid_loss, m.valid_acc, m.seconds);
        std::printf("genotype %s\n", darts.c_str());
        print_alphas("softmax(alphas_normal):", m.softmax_normal, prims);
        if (opt.net.has_reduction())
            print_alphas("softmax(alphas_reduce):", m.softmax_reduce, prims);
        std::fflush(stdout);

        // The checkpoint first: the text outputs are never ahead of the state a resume restarts
        // from (a resume completes them from the checkpoint's copy of the metrics line).
        save_epoch(search, ckpt, in.data, m.to_json(), metrics,
                   {{"best_valid_acc", std::to_string(run.best_acc)},
                    {"best_genotype", run.best_genotype}},
                   [&] { write_genotypes(out, e + 1, m.genotype); });
    }

    std::printf("final genotype %s\n", to_darts_string(search.genotype()).c_str());
    std::printf("outputs in %s\n", out.c_str());
    const Genotype best = run.best_genotype.empty()
                              ? search.genotype()
                              : parse_genotype(run.best_genotype, ckpt.string());
    std::printf("Validation-Accuracy=%s\n", fixed4(std::max(0.0, run.best_acc)).c_str());
    std::printf("Best-Genotype=%s\n", to_katib_string(best).c_str());
    std::fflush(stdout);
    return 0;
}

int cmd_derive(int argc, char** argv) {
    cxxopts::Options opts("cudarts derive", "Print the genotype of a search checkpoint.");
    opts.add_options()("checkpoint", "a .safetensors file with alphas_normal and alphas_reduce",
                       cxxopts::value<std::string>())(
        "primitives", "the alpha columns (default: from the checkpoint, else the 8 of DARTS)",
        cxxopts::value<std::string>())("json", "print JSON")("katib", "print Katib's form")(
        "rule", "softmax (the reference) or katib (raw logits)",
        cxxopts::value<std::string>()->default_value("softmax"));
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    if (!args.count("checkpoint")) throw InputError("derive: expected --checkpoint FILE");
    const std::string path = args["checkpoint"].as<std::string>();
    const std::string rule = args["rule"].as<std::string>();
    if (rule != "softmax" && rule != "katib")
        throw InputError("--rule: expected softmax or katib, got '" + rule + "'");
    // Without options in the checkpoint (a PyTorch export of the alphas, say) the columns are the
    // 8 of DARTS unless --primitives names them.
    const SearchCheckpoint c = read_search_checkpoint(
        path, args.count("primitives") ? parse_primitive_list(args["primitives"].as<std::string>())
                                       : std::vector<std::string>{});
    const Genotype g = derive_genotype(
        c.alphas_normal.data(), c.has_reduction ? c.alphas_reduce.data() : nullptr, c.primitives,
        c.nodes, rule == "katib" ? DeriveRule::kKatibLogits : DeriveRule::kSoftmax);
    if (args.count("json"))
        std::printf("%s\n", to_json_string(g).c_str());
    else if (args.count("katib"))
        std::printf("%s\n", to_katib_string(g).c_str());
    else
        std::printf("%s\n", to_darts_string(g).c_str());
    return 0;
}

}  // namespace cudarts::apps
