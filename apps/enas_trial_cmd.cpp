// `cudarts enas-trial`: a drop-in for Katib's ENAS trial container (reference/katib.md 2.4, 2.5,
// 2.9). It takes the trial's flags and formats (--architecture and --nn_config as single-quoted
// JSON, --num_epochs), builds the child with every opt_params entry honoured, scales pixels once,
// validates on a split held out from the training images and reports the test split apart. After
// each epoch it prints Training-Accuracy=, Training-Loss=, Validation-Accuracy= and
// Validation-Loss= in fixed notation, the lines Katib's default metrics collector reads.
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>

#include "apps/flags.h"
#include "apps/katib.h"
#include "apps/progress.h"
#include "apps/run_dir.h"
#include "apps/subcommands.h"
#include "engine/device.h"
#include "kernels/check.h"
#include "models/enas/trial.h"
#include "models/nn/checkpoint.h"

namespace cudarts::apps {
namespace {

using namespace cudarts::enas;

// The value of the first of `names` that was given (Katib's spelling with '_', ours with '-').
template <class T>
std::optional<T> either(const cxxopts::ParseResult& args,
                        std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (args.count(n)) return args[n].as<T>();
    return std::nullopt;
}

// InputError unless the data set's images are the nn_config's input and its labels fit.
void check_data_fits(const NnConfig& c, const ImageDataset& set) {
    if (c.height != set.height || c.width != set.width || c.channels != set.channels)
        throw InputError("--nn_config: input_sizes [" + std::to_string(c.height) + ", " +
                         std::to_string(c.width) + ", " + std::to_string(c.channels) + "], but " +
                         set.name + " images are " + std::to_string(set.height) + "x" +
                         std::to_string(set.width) + "x" + std::to_string(set.channels) +
                         " (expected [height, width, channels] of the data)");
    if (c.classes < set.classes)
        throw InputError("--nn_config: output_sizes [" + std::to_string(c.classes) + "], but " +
                         set.name + " has " + std::to_string(set.classes) + " classes");
}

}  // namespace

int cmd_enas_trial(int argc, char** argv) {
    cxxopts::Options opts("cudarts enas-trial",
                          "Train one ENAS child network from Katib's --architecture and "
                          "--nn_config; prints Katib's four metrics after every epoch.");
    // clang-format off
    opts.add_options("katib")
        ("architecture", "the rows of Katib's encoding, e.g. '[[27], [29, 0], ...]'", cxxopts::value<std::string>())
        ("nn_config", "Katib's nn_config JSON (single quotes accepted)", cxxopts::value<std::string>())
        ("nn-config", "the same as --nn_config", cxxopts::value<std::string>())
        ("num_epochs", "epochs (Katib's default 10)", cxxopts::value<int>())
        ("num-epochs", "the same as --num_epochs", cxxopts::value<int>())
        ("num_gpus", "accepted for Katib's command lines; --device picks the device", cxxopts::value<int>());
    opts.add_options("training")
        ("batch-size", "batch size", cxxopts::value<int>()->default_value("128"))
        ("learning-rate", "Adam learning rate", cxxopts::value<float>()->default_value("0.001"))
        ("valid-portion", "fraction of the training images held out for validation",
         cxxopts::value<double>()->default_value("0.1"))
        ("seed", "random seed", cxxopts::value<uint64_t>()->default_value("0"))
        ("save", "write the trained child's weights here (.safetensors)", cxxopts::value<std::string>())
        ("print-step", "plain progress line every N steps", cxxopts::value<int>()->default_value("50"));
    // clang-format on
    add_data_flags(opts);
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;

    const auto nn_text = either<std::string>(args, {"nn_config", "nn-config"});
    if (!args.count("architecture") || !nn_text)
        throw InputError(
            "enas-trial: expected --architecture and --nn_config (Katib's trial flags)");
    const NnConfig config =
        parse_nn_config(parse_katib_json(*nn_text, "--nn_config"), "--nn_config");
    const Architecture arch = parse_architecture(
        parse_katib_json(args["architecture"].as<std::string>(), "--architecture"),
        "--architecture");
    const ChildPlan plan = plan_child(config, arch, "--architecture");
    TrialOptions topt;
    topt.epochs = either<int>(args, {"num_epochs", "num-epochs"}).value_or(10);
    topt.batch_size = args["batch-size"].as<int>();
    topt.lr = args["learning-rate"].as<float>();
    topt.seed = args["seed"].as<uint64_t>();
    topt.validate();
    const double portion = args["valid-portion"].as<double>();
    if (!(portion > 0 && portion < 1))
        throw InputError("--valid-portion: expected a fraction in (0, 1), got " +
                         nlohmann::json(portion).dump());
    const Device dev = parse_device(args["device"].as<std::string>(), "--device");
    std::string save;
    if (args.count("save")) {
        save = args["save"].as<std::string>();
        require_utf8_path(save, "--save");
    }

    RunData data = RunData::from_environment();
    data.apply_flags(args);
    auto [train, test] = load_splits(data.dataset, data.data, data.subset);
    check_data_fits(config, train);
    ImageDataset valid = hold_out(train, portion);
    for (ImageDataset* s : {&train, &valid, &test}) scale_pixels_once(*s);

    ChildNetwork net(plan, dev, topt.seed);
    ChildTrainer trainer(net, topt, train, valid, test);
    std::printf(
        "cudarts enas-trial: device %s; %s, %lld training / %lld validation / %lld test "
        "images, %dx%dx%d\n",
        describe(dev).c_str(), data.dataset.c_str(), static_cast<long long>(train.size()),
        static_cast<long long>(valid.size()), static_cast<long long>(test.size()), train.channels,
        train.height, train.width);
    std::printf("architecture %s\n%s", architecture_text(arch).c_str(), plan.summary().c_str());
    std::printf("%lld parameters, %d epochs of %d steps, batch %d, Adam lr %g\n",
                static_cast<long long>(net.weights().total()), topt.epochs,
                trainer.steps_per_epoch(), topt.batch_size, double(topt.lr));
    std::fflush(stdout);

    Progress progress(args["print-step"].as<int>());
    TrialEpoch m;
    while (!trainer.done()) {
        progress.start_epoch(trainer.epoch(), topt.epochs, trainer.steps_per_epoch());
        m = trainer.run_epoch([&](const StepInfo& s) { progress.step(s.step, s.loss, s.acc); });
        progress.end_epoch();
        // The test split is reported apart (it never chooses anything), then Katib's metrics.
        std::printf(
            "epoch %d/%d (%.1f s), test loss %.6f, test accuracy %.6f\n"
            "Training-Accuracy=%.6f\nTraining-Loss=%.6f\n"
            "Validation-Accuracy=%.6f\nValidation-Loss=%.6f\n",
            m.epoch + 1, topt.epochs, m.seconds, m.test_loss, m.test_acc, m.train_acc, m.train_loss,
            m.valid_acc, m.valid_loss);
        std::fflush(stdout);
    }
    if (!save.empty()) {
        CheckpointWriter w;
        w.add_store(net.weights());
        w.add_store(net.buffers());
        w.write(save, {{"format", "cudarts-enas-child"},
                       {"architecture", architecture_text(arch)},
                       {"nn_config", config.to_katib().dump()},
                       {"epochs", std::to_string(topt.epochs)}});
        // On stderr: a metric line stays the last line of stdout, which Katib reads.
        std::fprintf(stderr, "weights in %s\n", save.c_str());
    }
    return 0;
}

}  // namespace cudarts::apps
