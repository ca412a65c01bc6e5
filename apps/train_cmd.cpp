// `cudarts train` (train a genotype from scratch, the paper's recipe by default) and
// `cudarts test` (evaluate a checkpoint with the reference's parameter names).
//
// train writes into --out DIR after every epoch, atomically: checkpoint.safetensors and
// metrics.jsonl, as search does; test prints `test_loss=` and `test_acc=` in fixed notation.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>

#include "apps/progress.h"
#include "apps/run_dir.h"
#include "apps/setting_names.h"
#include "apps/subcommands.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/run/train.h"

namespace fs = std::filesystem;

namespace cudarts::apps {

namespace {

void add_network_flags(cxxopts::Options& opts) {
    // clang-format off
    opts.add_options("network")
        ("genotype", "DARTS_V1, DARTS_V2, a file (DARTS form or JSON) or the text, DARTS or Katib "
                     "form", cxxopts::value<std::string>())
        ("network", "cifar (NetworkCIFAR) or imagenet (NetworkImageNet)",
         cxxopts::value<std::string>()->default_value("cifar"))
        ("init-channels", "C, even, 2..512", cxxopts::value<int>())
        ("layers", "cells, 3..100", cxxopts::value<int>())
        ("auxiliary", "auxiliary head (--auxiliary=false to leave it out)",
         cxxopts::value<bool>()->default_value("true")->implicit_value("true"));
    opts.add_options("data")
        ("dataset", "cifar10, cifar100, mnist, fashion-mnist, synthetic or folder "
                    "(env CUDARTS_DATASET)", cxxopts::value<std::string>())
        ("data", "directory with the data set's files (env CUDARTS_DATA)",
         cxxopts::value<std::string>())
        ("subset", "use only the first N images of each split (0 = all)",
         cxxopts::value<int64_t>()->default_value("0"))
        ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"));
    // clang-format on
}

// The network part of a recipe from the flags (over `base`, e.g. a checkpoint's recipe).
void apply_network_flags(const cxxopts::ParseResult& args, EvalNetConfig& net) {
    const std::string kind = args["network"].as<std::string>();
    if (kind != "cifar" && kind != "imagenet")
        throw InputError("--network: expected cifar or imagenet, got '" + kind + "'");
    if (args.count("network")) net.imagenet = kind == "imagenet";
    if (args.count("genotype")) net.genotype = resolve_genotype(args["genotype"].as<std::string>());
    if (args.count("init-channels")) net.init_channels = args["init-channels"].as<int>();
    if (args.count("layers")) net.layers = args["layers"].as<int>();
    if (args.count("auxiliary")) net.auxiliary = args["auxiliary"].as<bool>();
}

// The flag that sets each TrainRecipe setting.
const SettingNames kFlagNames = {{"epochs", "--epochs"},
                                 {"batch_size", "--batch-size"},
                                 {"lr", "--learning-rate"},
                                 {"lr_min", "--learning-rate-min"},
                                 {"momentum", "--momentum"},
                                 {"weight_decay", "--weight-decay"},
                                 {"grad_clip", "--grad-clip"},
                                 {"drop_path_prob", "--drop-path-prob"},
                                 {"label_smoothing", "--label-smoothing"},
                                 {"cutout", "--cutout"},
                                 {"init_channels", "--init-channels"},
                                 {"layers", "--layers"},
                                 {"auxiliary", "--auxiliary"},
                                 {"genotype", "--genotype"}};

using TrainInput = RunInput<TrainRecipe>;

// The flags the user gave, over `in`: a preset for a new run, the run's recipe on --resume.
void apply_train_flags(const cxxopts::ParseResult& args, TrainInput& in) {
    TrainRecipe& r = in.options;
    apply_network_flags(args, r.net);
    if (args.count("epochs")) r.epochs = args["epochs"].as<int>();
    if (args.count("batch-size")) r.batch_size = args["batch-size"].as<int>();
    if (args.count("learning-rate")) r.lr = args["learning-rate"].as<float>();
    if (args.count("learning-rate-min")) r.lr_min = args["learning-rate-min"].as<float>();
    if (args.count("momentum")) r.momentum = args["momentum"].as<float>();
    if (args.count("weight-decay")) r.weight_decay = args["weight-decay"].as<float>();
    if (args.count("grad-clip")) r.grad_clip = args["grad-clip"].as<float>();
    if (args.count("auxiliary-weight")) r.aux_weight = args["auxiliary-weight"].as<float>();
    if (args.count("cutout")) r.augment.cutout = args["cutout"].as<int>();
    if (args.count("drop-path-prob")) r.drop_path_prob = args["drop-path-prob"].as<float>();
    if (args.count("label-smoothing")) r.label_smoothing = args["label-smoothing"].as<float>();
    if (args.count("seed")) r.seed = args["seed"].as<uint64_t>();
    in.data.apply_flags(args);
}

// On --resume, what names each compared key.
SettingNames resume_names() {
    SettingNames names = kFlagNames;
    names["imagenet"] = "--network";
    names["aux_weight"] = "--auxiliary-weight";
    names["seed"] = "--seed";
    RunData::name_flags(names);
    return names;
}

}  // namespace

cxxopts::Options train_options() {
    cxxopts::Options opts("cudarts train",
                          "Train a genotype from scratch (the DARTS paper's recipe by default).");
    add_network_flags(opts);
    // clang-format off
    opts.add_options("training")
        ("preset", "auto, cpu-small or paper", cxxopts::value<std::string>()->default_value("auto"))
        ("epochs", "epochs (also the cosine period)", cxxopts::value<int>())
        ("batch-size", "batch size", cxxopts::value<int>())
        ("learning-rate", "SGD learning rate", cxxopts::value<float>())
        ("learning-rate-min", "cosine floor", cxxopts::value<float>())
        ("momentum", "SGD momentum", cxxopts::value<float>())
        ("weight-decay", "SGD weight decay", cxxopts::value<float>())
        ("grad-clip", "global gradient-norm clip", cxxopts::value<float>())
        ("auxiliary-weight", "weight of the auxiliary loss", cxxopts::value<float>())
        ("cutout", "cutout length (0 = off)", cxxopts::value<int>())
        ("drop-path-prob", "final drop-path probability (linear ramp)", cxxopts::value<float>())
        ("label-smoothing", "label smoothing of the training losses", cxxopts::value<float>())
        ("seed", "random seed", cxxopts::value<uint64_t>())
        ("valid-portion", "hold out this fraction of the training images for validation, in "
                          "place of the test split (0 = off)", cxxopts::value<double>());
    // clang-format on
    add_output_flags(opts, "training", "train-out", "the training");
    return opts;
}

int cmd_train(int argc, char** argv) {
    cxxopts::Options opts = train_options();
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;

    const Device dev = parse_device(args["device"].as<std::string>(), "--device");
    // Before anything is read or written: the directory is this run's alone (and usable).
    const RunDirectory run_dir(args, {"preset"}, "a training run");
    const bool resume = run_dir.resume;
    const fs::path& out = run_dir.dir;
    const fs::path& ckpt = run_dir.checkpoint;
    TrainInput in{.options = {}, .data = RunData::from_environment()};
    std::string last_metrics;   // the checkpoint's copy of its epoch's metrics.jsonl line
    bool small_preset = false;  // a new run on the cpu-small preset
    if (resume) {
        const ResumeInfo saved = read_resume_info(ckpt, "train");
        in = resumed_input<TrainRecipe>(
            saved, [&](TrainInput& r) { apply_train_flags(args, r); }, resume_names());
        last_metrics = saved.last_metrics();
    } else {
        TrainRecipe& r = in.options;
        const std::string preset = chosen_preset(args["preset"].as<std::string>(), dev.is_cpu());
        r.net.genotype = *builtin_genotype("DARTS_V2");
        r.net.auxiliary = true;
        if (args["network"].as<std::string>() == "imagenet") {  // train_imagenet.py's recipe
            r.net.imagenet = true;
            r.net.init_channels = 48;
            r.net.layers = 14;
            r.batch_size = 128;
            r.lr = 0.1f;
            r.weight_decay = 3e-5f;
            r.step_schedule = true;
            r.epochs = 250;
            r.drop_path_prob = 0.f;
            r.label_smoothing = 0.1f;
        }
        small_preset = preset == "cpu-small" && !r.net.imagenet;
        if (small_preset) {
            std::printf(
                "preset: cpu-small (C=8, 6 cells, 2,048 images, 3 epochs, sized for a CPU)\n");
            r.net.init_channels = 8;
            r.net.layers = 6;
            r.epochs = 3;
            r.batch_size = 32;
            if (!args.count("subset")) in.data.subset = 2048;
        } else {
            std::printf("preset: %s\n", preset == "paper" ? "paper (C=36, 20 cells, 600 epochs)"
                                                          : "imagenet recipe");
        }
        apply_train_flags(args, in);
    }

    auto [train, test] = load_splits(in.data.dataset, in.data.data, in.data.subset);
    // The CPU preset drops the auxiliary head where the images are too small for it (28x28
    // Fashion-MNIST gives 7x7 maps at its cell; the head needs 8x8), unless --auxiliary was given.
    if (small_preset && !args.count("auxiliary") &&
        !auxiliary_fits(in.options.net, train.height, train.width)) {
        in.options.net.auxiliary = false;
        std::printf("preset: auxiliary head off (%dx%d images are too small for it)\n",
                    train.height, train.width);
    }
    // With --valid-portion the epochs are scored on images held out of the training split, and
    // the test split is seen once, at the end.
    const bool held_out = in.data.valid_portion > 0;
    ImageDataset valid = held_out ? hold_out(train, in.data.valid_portion) : ImageDataset{};
    const ImageDataset& scored = held_out ? valid : test;
    const char* scored_name = held_out ? "valid" : "test";
    Trainer trainer =
        with_input_names(kFlagNames, [&] { return Trainer(in.options, train, scored, dev); });
    if (resume) trainer.load(ckpt.string());
    const TrainRecipe& rec = trainer.recipe();
    std::printf("cudarts train: device %s; %s, %lld training / %lld test images, %dx%dx%d\n",
                describe(dev).c_str(), in.data.dataset.c_str(),
                static_cast<long long>(train.size()), static_cast<long long>(test.size()),
                train.channels, train.height, train.width);
    if (held_out)
        std::printf("validation: the last %lld training images (--valid-portion %g)\n",
                    static_cast<long long>(valid.size()), in.data.valid_portion);
    std::printf(
        "network: %s, C=%d, %d cells, auxiliary %s; %lld parameters (%lld without the "
        "auxiliary head); %d epochs of %d steps, batch %d\n",
        rec.net.imagenet ? "NetworkImageNet" : "NetworkCIFAR", rec.net.init_channels,
        rec.net.layers, rec.net.auxiliary ? "on" : "off",
        static_cast<long long>(trainer.network().weights().total()),
        static_cast<long long>(trainer.network().counted_parameters()), rec.epochs,
        trainer.steps_per_epoch(), rec.batch_size);
    std::printf("genotype %s\n", to_darts_string(rec.net.genotype).c_str());
    if (resume)
        std::printf("resuming %s after epoch %d of %d\n", out.c_str(), trainer.epoch(), rec.epochs);
    std::fflush(stdout);

    fs::create_directories(out);
    MetricsLog metrics(out / "metrics.jsonl");
    if (resume && trainer.epoch() > 0) metrics.resume(trainer.epoch(), last_metrics);
    Progress progress(args["print-step"].as<int>());
    while (!trainer.done()) {
        const int e = trainer.epoch();
        const TrainEpoch m = run_shown_epoch(trainer, progress, rec.epochs, "train", ckpt);
        std::printf(
            "epoch %d/%d lr %.6f drop_path %.4f train_loss %.4f train_acc %.4f "
            "%s_loss %.4f %s_acc %.4f (%.1f s)\n",
            e + 1, rec.epochs, m.lr, m.drop_path_prob, m.train_loss, m.train_acc, scored_name,
            m.test_loss, scored_name, m.test_acc, m.seconds);
        std::fflush(stdout);
        nlohmann::json line = m.to_json();
        if (held_out) {
            line["valid_loss"] = line.at("test_loss");
            line["valid_acc"] = line.at("test_acc");
            line.erase("test_loss");
            line.erase("test_acc");
        }
        // The checkpoint first: metrics.jsonl is never ahead of the state a resume restarts from.
        save_epoch(trainer, ckpt, in.data, line, metrics, {}, [] {});
    }
    std::printf("outputs in %s\n", out.c_str());
    if (held_out) {  // Katib's metric names, fixed notation
        const auto [loss, acc] = evaluate(trainer.network(), valid, rec.batch_size);
        std::printf("Validation-Loss=%.6f\nValidation-Accuracy=%.4f\n", loss, acc);
    }
    const auto [loss, acc] = evaluate(trainer.network(), test, rec.batch_size);
    std::printf("test_loss=%.6f\ntest_acc=%.4f\n", loss, acc);
    return 0;
}

int cmd_test(int argc, char** argv) {
    cxxopts::Options opts("cudarts test",
                          "Evaluate a checkpoint (cudarts or a PyTorch state_dict saved as "
                          "safetensors, with the reference's names) on a test split.");
    add_network_flags(opts);
    opts.add_options("test")("checkpoint", "the .safetensors file", cxxopts::value<std::string>())(
        "batch-size", "batch size", cxxopts::value<int>()->default_value("96"));
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    if (!args.count("checkpoint")) throw InputError("test: expected --checkpoint FILE");
    const std::string path = args["checkpoint"].as<std::string>();
    const Device dev = parse_device(args["device"].as<std::string>(), "--device");

    // The network: a cudarts checkpoint's recipe, else the paper's (C=36, 20 cells), then flags.
    EvalNetConfig net;
    net.genotype = *builtin_genotype("DARTS_V2");
    const SafetensorsFile f = read_safetensors(path);
    if (f.metadata.count("options")) {
        const nlohmann::json j = checkpoint_json(f, "options");
        if (j.contains("genotype") && j.contains("layers"))  // a training run's, not a search's
            net = TrainRecipe::from_json(j, metadata_name(path, "options")).net;
    } else {
        net.auxiliary = f.tensors.count("auxiliary_head.classifier.bias") > 0;
    }
    apply_network_flags(args, net);
    const std::string dataset = args.count("dataset") ? args["dataset"].as<std::string>()
                                                      : env_or("CUDARTS_DATASET", "fashion-mnist");
    const std::string dir =
        args.count("data") ? args["data"].as<std::string>() : env_or("CUDARTS_DATA", "");
    ImageDataset test = load_dataset(dataset, dir, false);
    const int64_t subset = args["subset"].as<int64_t>();
    if (subset > 0 && subset < test.size()) test = slice(test, 0, subset);
    net.in_channels = test.channels;
    net.classes = test.classes;
    EvalNetwork model = with_input_names(kFlagNames, [&] { return EvalNetwork(net, dev, 0); });
    load_weights(model, path);
    const int batch = args["batch-size"].as<int>();
    if (batch < 1)
        throw InputError("--batch-size: expected at least 1, got " + std::to_string(batch));
    const auto [loss, acc] = evaluate(model, test, batch);
    std::printf("test_loss=%.6f\ntest_acc=%.4f\n", loss, acc);
    return 0;
}

}  // namespace cudarts::apps
