// `cudarts enas`: the whole ENAS loop on one device (reference/katib.md 2.6-2.9). Katib's
// controller, encoding, setting names and defaults, over Katib's search space (a nasConfig JSON
// file, or the operations of Katib's GPU example fitted to the data), with shared child weights;
// each child's own reward drives its log-probability (--katib-reward reproduces Katib's averaged
// reward). Output directory: checkpoint.safetensors after every epoch (resume with --resume DIR),
// metrics.jsonl, best.json (the best child's architecture and nn_config, ready for enas-trial).
// The last lines are Validation-Accuracy= of the best child and Best-Architecture=.
// --mode micro (Katib's missing "micro" mode): the controller samples a DARTS cell, the children
// run inside the DARTS search network and share its weights (models/enas/micro_search.h), and the
// result is a genotype in the DARTS form (genotype.txt, Best-Genotype=) that `cudarts train` takes.
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "apps/flags.h"
#include "apps/katib.h"
#include "apps/progress.h"
#include "apps/run_dir.h"
#include "apps/subcommands.h"
#include "engine/device.h"
#include "engine/json.h"
#include "kernels/check.h"
#include "models/darts/genotype.h"
#include "models/enas/micro_search.h"
#include "models/enas/search.h"
#include "models/enas/trial.h"

namespace cudarts::apps {
namespace {

namespace fs = std::filesystem;
using namespace cudarts::enas;

// The flags that describe a new run; a resume keeps the checkpoint's (only --epochs may change).
constexpr std::initializer_list<const char*> kNewRunFlags = {"space",
                                                             "num-layers",
                                                             "algorithm-settings",
                                                             "child-steps",
                                                             "batch-size",
                                                             "child-learning-rate",
                                                             "eval-children",
                                                             "katib-reward",
                                                             "seed",
                                                             "dataset",
                                                             "data",
                                                             "subset",
                                                             "valid-portion",
                                                             "mode",
                                                             "init-channels",
                                                             "layers",
                                                             "nodes",
                                                             "primitives",
                                                             "learning-rate",
                                                             "learning-rate-min"};

SearchSpace read_space(const cxxopts::ParseResult& args, const ImageDataset& train) {
    SearchSpace s;
    if (args.count("space")) {
        const std::string path = args["space"].as<std::string>();
        std::ifstream in(path);
        if (!in) throw InputError("--space: cannot read " + path);
        std::stringstream text;
        text << in.rdbuf();
        const nlohmann::json j = parse_json(text.str(), "--space " + path);
        // Katib's Experiment puts these under nasConfig; either form is read.
        s = parse_search_space(j.is_object() && j.contains("nasConfig") ? j.at("nasConfig") : j,
                               "--space " + path);
    } else {  // Katib's GPU example's operations, its graph fitted to the data
        s = katib_gpu_space();
        s.height = train.height, s.width = train.width, s.channels = train.channels;
        s.classes = train.classes;
    }
    if (args.count("num-layers")) {
        s.num_layers = parse_num_layers(args["num-layers"].as<std::string>());
        if (s.num_layers > 64) throw InputError("--num-layers: expected 1..64");
    }
    return s;
}

// The flags both modes take, into EnasOptions or MicroOptions.
template <class Options>
void apply_search_flags(const cxxopts::ParseResult& args, Options& o) {
    if (args.count("algorithm-settings")) {
        const auto kv = parse_algorithm_settings(args["algorithm-settings"].as<std::string>());
        o.controller = parse_controller_settings({kv.begin(), kv.end()});
    }
    set_from_flag(args, "epochs", o.epochs);
    set_from_flag(args, "child-steps", o.child_steps);
    set_from_flag(args, "batch-size", o.batch_size);
    set_from_flag(args, "eval-children", o.eval_children);
    set_from_flag(args, "katib-reward", o.katib_reward);
    set_from_flag(args, "seed", o.seed);
}

const SettingNames kMicroFlagNames = {{"epochs", "--epochs"},
                                      {"child_steps", "--child-steps"},
                                      {"batch_size", "--batch-size"},
                                      {"eval_children", "--eval-children"},
                                      {"lr", "--learning-rate"},
                                      {"lr_min", "--learning-rate-min"},
                                      {"init_channels", "--init-channels"},
                                      {"layers", "--layers"},
                                      {"nodes", "--nodes"},
                                      {"primitives", "--primitives"}};

const SettingNames kFlagNames = {{"epochs", "--epochs"},
                                 {"child_steps", "--child-steps"},
                                 {"batch_size", "--batch-size"},
                                 {"child_lr", "--child-learning-rate"},
                                 {"eval_children", "--eval-children"}};

// What both modes take from a resumed run (`info`, its checkpoint's metadata): the options, the
// data and the last epoch's metrics line; of the flags only --epochs may still change the options.
template <class Options>
void resume_run(const ResumeInfo& info, const cxxopts::ParseResult& args, Options& options,
                RunData& data, std::string& last_metrics) {
    options = Options::from_json(info.options, metadata_name(info.checkpoint, "options"));
    data = info.data;
    last_metrics = info.last_metrics();
    set_from_flag(args, "epochs", options.epochs);
}

// The epoch loop both modes share: the resume line, metrics.jsonl, progress, and after every
// epoch its line (`print(epoch, metrics)`), the checkpoint, then the text outputs (`write_best`).
template <class Search, class Print, class WriteBest>
void run_epochs(Search& search, int epochs, const RunDirectory& run, const RunData& data,
                const cxxopts::ParseResult& args, const std::string& last_metrics,
                const Print& print, const WriteBest& write_best) {
    if (run.resume)
        std::printf("resuming %s after epoch %d of %d\n", run.dir.c_str(), search.epoch(), epochs);
    std::fflush(stdout);
    MetricsLog metrics(run.dir / "metrics.jsonl");
    if (run.resume && search.epoch() > 0) metrics.resume(search.epoch(), last_metrics);
    Progress progress(args["print-step"].as<int>());
    while (!search.done()) {
        const int e = search.epoch();
        const auto m = run_shown_epoch(search, progress, epochs, "enas", run.checkpoint);
        print(e, m);
        std::fflush(stdout);
        save_epoch(search, run.checkpoint, data, m.to_json(), metrics, {}, write_best);
    }
}

// Macro mode: whole networks in Katib's encoding over Katib's search space.
int run_macro(const cxxopts::ParseResult& args, const RunDirectory& run, const ResumeInfo* resumed,
              Device dev) {
    EnasOptions options;
    RunData data = RunData::from_environment();
    data.valid_portion = 0.1;
    nlohmann::json saved_space;
    std::string last_metrics;
    if (resumed) {
        resume_run(*resumed, args, options, data, last_metrics);
        saved_space = parse_json(resumed->at("space"), metadata_name(resumed->checkpoint, "space"));
    } else {
        data.apply_flags(args);
        apply_search_flags(args, options);
        set_from_flag(args, "child-learning-rate", options.child_lr);
    }
    with_input_names(kFlagNames, [&] { options.validate(); });
    if (!(data.valid_portion > 0))
        throw InputError("--valid-portion: expected a fraction in (0, 1)");

    auto [train, test] = load_splits(data.dataset, data.data, data.subset);
    ImageDataset valid = hold_out(train, data.valid_portion);
    for (ImageDataset* s : {&train, &valid, &test}) scale_pixels_once(*s);
    const SearchSpace space =
        resumed ? parse_search_space(saved_space, "checkpoint 'space'") : read_space(args, train);
    EnasSearch search(space, options, train, valid, dev);
    if (run.resume) search.load(run.checkpoint.string());

    std::printf("cudarts enas: device %s; %s, %lld training / %lld held-out images, %dx%dx%d\n",
                describe(dev).c_str(), data.dataset.c_str(), static_cast<long long>(train.size()),
                static_cast<long long>(valid.size()), train.channels, train.height, train.width);
    std::printf(
        "space: %d layers, %zu operations; %d epochs of %d child steps and %d controller "
        "updates (%s reward), batch %d\n",
        space.num_layers, space.ops.size(), options.epochs, options.child_steps,
        options.controller.train_steps, options.katib_reward ? "Katib's averaged" : "per-child",
        options.batch_size);
    auto write_best = [&] {
        const nlohmann::json nn_config = space.nn_config(search.best()).to_katib();
        const nlohmann::json best = {{"architecture", architecture_text(search.best())},
                                     {"nn_config", nn_config},
                                     {"valid_acc", search.best_acc()}};
        write_text(run.dir / "best.json", best.dump(2) + "\n");
        write_text(run.dir / "best_nn_config.json", nn_config.dump() + "\n");
    };
    run_epochs(
        search, options.epochs, run, data, args, last_metrics,
        [&](int e, const EnasEpoch& m) {
            std::printf(
                "epoch %d/%d child_loss %.4f child_acc %.4f reward %.4f baseline %.4f "
                "entropy %.3f skip_rate %.3f best %.4f %s (%d unbuildable; %zu blocks, %lld "
                "shared parameters; %.1f s)\n",
                e + 1, options.epochs, m.child_loss, m.child_acc, m.reward_mean, m.baseline,
                m.entropy, m.skip_rate, m.best_acc, architecture_text(m.best).c_str(),
                m.unbuildable, m.shared_blocks, static_cast<long long>(m.shared_parameters),
                m.seconds);
        },
        write_best);
    std::printf(
        "outputs in %s; train the best child alone with:\n  cudarts enas-trial "
        "--architecture '%s' --nn_config \"$(cat %s)\"\n",
        run.dir.c_str(), architecture_text(search.best()).c_str(),
        (run.dir / "best_nn_config.json").c_str());
    std::printf("Validation-Accuracy=%.6f\n", search.best_acc());
    std::string text = architecture_text(search.best());
    std::erase(text, ' ');
    std::printf("Best-Architecture=%s\n", text.c_str());
    return 0;
}

// Micro mode: a DARTS cell inside the DARTS search network, whose weights the children share.
int run_micro(const cxxopts::ParseResult& args, const RunDirectory& run, const ResumeInfo* resumed,
              Device dev) {
    MicroOptions options;
    RunData data = RunData::from_environment();
    std::string last_metrics;
    if (resumed) {
        resume_run(*resumed, args, options, data, last_metrics);
    } else {
        data.apply_flags(args);
        apply_search_flags(args, options);
        set_from_flag(args, "learning-rate", options.lr);
        set_from_flag(args, "learning-rate-min", options.lr_min);
        set_from_flag(args, "init-channels", options.net.init_channels);
        set_from_flag(args, "layers", options.net.layers);
        set_from_flag(args, "nodes", options.net.nodes);
        if (args.count("primitives"))
            options.net.primitives = parse_primitive_list(args["primitives"].as<std::string>());
        if (args.count("valid-portion")) options.train_portion = 1 - data.valid_portion;
        data.valid_portion = 0;  // MicroSearch splits the training images itself
    }
    auto [train, test] = load_splits(data.dataset, data.data, data.subset);
    options.net.in_channels = train.channels;
    options.net.classes = train.classes;
    with_input_names(kMicroFlagNames, [&] {
        options.validate();
        options.net.require_fits(train.height, train.width);
    });
    MicroSearch search(options, train, dev);
    if (run.resume) search.load(run.checkpoint.string());
    std::printf(
        "cudarts enas --mode micro: device %s; %s, %lld training / %lld held-out images, "
        "%dx%dx%d\n",
        describe(dev).c_str(), data.dataset.c_str(), static_cast<long long>(search.train_images()),
        static_cast<long long>(search.valid_images()), train.channels, train.height, train.width);
    std::printf(
        "supernet: C=%d, %d cells, %d nodes, %zu ops; %d epochs of %d child steps and %d "
        "controller updates (%s reward), batch %d\n",
        options.net.init_channels, options.net.layers, options.net.nodes,
        search.controller().ops().size(), options.epochs, options.child_steps,
        options.controller.train_steps, options.katib_reward ? "Katib's averaged" : "per-child",
        options.batch_size);
    auto write_best = [&] {
        write_text(run.dir / "genotype.txt", to_darts_string(search.best()) + "\n");
        write_text(run.dir / "genotype.json", to_json_string(search.best()) + "\n");
    };
    run_epochs(
        search, options.epochs, run, data, args, last_metrics,
        [&](int e, const MicroEpoch& m) {
            std::printf(
                "epoch %d/%d lr %.6f child_loss %.4f child_acc %.4f reward %.4f baseline "
                "%.4f entropy %.3f best %.4f (%.1f s)\ngenotype %s\n",
                e + 1, options.epochs, m.lr, m.child_loss, m.child_acc, m.reward_mean, m.baseline,
                m.entropy, m.best_acc, m.seconds, to_darts_string(m.best).c_str());
        },
        write_best);
    std::printf("outputs in %s; train the cell with: cudarts train --genotype %s\n",
                run.dir.c_str(), (run.dir / "genotype.txt").c_str());
    std::printf("Validation-Accuracy=%.6f\n", search.best_acc());
    std::printf("Best-Genotype=%s\n", to_darts_string(search.best()).c_str());
    return 0;
}
}  // namespace

int cmd_enas(int argc, char** argv) {
    cxxopts::Options opts("cudarts enas",
                          "ENAS search (Katib's controller and encoding) with shared child "
                          "weights; prints Best-Architecture= at the end.");
    // clang-format off
    opts.add_options("mode")
        ("mode", "macro (whole networks in Katib's encoding) or micro (a DARTS cell)",
         cxxopts::value<std::string>()->default_value("macro"));
    opts.add_options("micro")
        ("init-channels", "micro: the supernet's C", cxxopts::value<int>())
        ("layers", "micro: the supernet's cells", cxxopts::value<int>())
        ("nodes", "micro: intermediate nodes per cell", cxxopts::value<int>())
        ("primitives", "micro: comma-separated candidate ops, official or Katib names", cxxopts::value<std::string>())
        ("learning-rate", "micro: SGD learning rate of the supernet (cosine)", cxxopts::value<float>())
        ("learning-rate-min", "micro: cosine floor", cxxopts::value<float>());
    opts.add_options("search space")
        ("space", "Katib's nasConfig as JSON (graphConfig and operations); default: the operations "
                  "of Katib's GPU example on the data's image size", cxxopts::value<std::string>())
        ("num-layers", "layers of the child networks (graphConfig numLayers)", cxxopts::value<std::string>())
        ("algorithm-settings", "Katib's ENAS settings, e.g. {'controller_train_steps': '20'}",
         cxxopts::value<std::string>());
    opts.add_options("search")
        ("epochs", "epochs", cxxopts::value<int>())
        ("child-steps", "shared-weight training batches per epoch, one sampled child each", cxxopts::value<int>())
        ("batch-size", "batch size", cxxopts::value<int>())
        ("child-learning-rate", "Adam learning rate of the shared weights", cxxopts::value<float>())
        ("eval-children", "children scored on the whole held-out split after each epoch", cxxopts::value<int>())
        ("katib-reward", "Katib's reward: the mean of all children so far, on fresh samples",
         cxxopts::value<bool>()->implicit_value("true"))
        ("seed", "random seed", cxxopts::value<uint64_t>())
        ("valid-portion", "fraction of the training images held out to score children (default 0.1)",
         cxxopts::value<double>());
    // clang-format on
    add_output_flags(opts, "search", "enas-out", "the search");
    add_data_flags(opts);
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    const Device dev = parse_device(args["device"].as<std::string>(), "--device");
    const RunDirectory run(args, kNewRunFlags, "an ENAS search");
    // A resumed run keeps its mode, which its checkpoint's format names; its metadata is read once.
    std::optional<ResumeInfo> resumed;
    if (run.resume) resumed = read_resume_info(run.checkpoint, "enas");
    const std::string mode =
        resumed ? (resumed->metadata["format"] == "cudarts-enas-micro" ? "micro" : "macro")
                : args["mode"].as<std::string>();
    if (mode != "macro" && mode != "micro")
        throw InputError("--mode: expected macro or micro, got '" + quote_input(mode) + "'");
    const ResumeInfo* info = resumed ? &*resumed : nullptr;
    return mode == "micro" ? run_micro(args, run, info, dev) : run_macro(args, run, info, dev);
}
}  // namespace cudarts::apps
