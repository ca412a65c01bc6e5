// `cudarts search --task rnn`, `cudarts train --task rnn` and `cudarts test --task rnn`: the
// recurrent DARTS language model on Penn Treebank-format text (reference/darts.md 7).
//
// search and train write into --out DIR as the image commands do, each file atomically after
// every epoch: checkpoint.safetensors, metrics.jsonl and (search) genotype.txt / genotype.json and
// epochs/genotype_NNN.*; --resume DIR continues bitwise. Their last stdout lines are Katib-style
// metrics: search `Validation-Perplexity=` and `Best-Genotype=`, train `test_loss=` and
// `test_ppl=` of its best model on the test split (batch 1, the reference's test protocol), which
// is also what `cudarts test --task rnn` prints for a checkpoint.
#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>

#include "apps/progress.h"
#include "apps/run_dir.h"
#include "apps/setting_names.h"
#include "apps/subcommands.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/rnn/search.h"
#include "models/rnn/train.h"

namespace fs = std::filesystem;

namespace cudarts::apps {

namespace {

// What a preset sets for a new run (flags override it).
struct RnnPreset {
    const char* description;
    int nhid, epochs, batch_size, bptt;
    int64_t subset;  // training tokens used (0 = all)
};
constexpr RnnPreset kRnnSearchCpu{
    "cpu-small (nhid 32, 60,000 tokens, 2 epochs, sized for a CPU)", 32, 2, 32, 20, 60000};
constexpr RnnPreset kRnnTrainCpu{
    "cpu-small (nhid 64, 60,000 tokens, 3 epochs, sized for a CPU)", 64, 3, 32, 20, 60000};

void add_data_flags(cxxopts::Options& opts) {
    // clang-format off
    opts.add_options("data")
        ("data", "Penn Treebank-format folder: train.txt, valid.txt, test.txt (env "
                 "CUDARTS_TEXT_DATA; default: the corpus built from Debian's fortunes)",
         cxxopts::value<std::string>())
        ("subset", "use only the first N training tokens (0 = all)", cxxopts::value<int64_t>())
        ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"));
    // clang-format on
}

// The model's dropout flags, each declared and applied from this table: name, help, member.
struct DropoutFlag {
    const char* name;
    const char* help;
    float RnnModelConfig::*member;
};
constexpr DropoutFlag kDropoutFlags[] = {
    {"dropout", "output locked dropout", &RnnModelConfig::dropout},
    {"dropouth", "hidden-state dropout of the cell", &RnnModelConfig::dropouth},
    {"dropoutx", "input dropout of the cell", &RnnModelConfig::dropoutx},
    {"dropouti", "input locked dropout", &RnnModelConfig::dropouti},
    {"dropoute", "embedding dropout", &RnnModelConfig::dropoute},
};

void add_model_flags(cxxopts::Options& opts) {
    opts.add_options("model")("emsize", "embedding size (= --nhid)", cxxopts::value<int>())(
        "nhid", "hidden size", cxxopts::value<int>());
    for (const DropoutFlag& d : kDropoutFlags)
        opts.add_options("model")(d.name, d.help, cxxopts::value<float>());
}

void add_run_flags(cxxopts::Options& opts, const char* out_default) {
    // clang-format off
    opts.add_options("run")
        ("preset", "auto, cpu-small or paper", cxxopts::value<std::string>()->default_value("auto"))
        ("epochs", "epochs", cxxopts::value<int>())
        ("batch-size", "batch size", cxxopts::value<int>())
        ("eval-batch-size", "validation batch size", cxxopts::value<int>())
        ("bptt", "sequence length", cxxopts::value<int>())
        ("learning-rate", "SGD learning rate", cxxopts::value<float>())
        ("weight-decay", "SGD weight decay", cxxopts::value<float>())
        ("grad-clip", "global gradient-norm clip", cxxopts::value<float>())
        ("seed", "random seed", cxxopts::value<uint64_t>());
    // clang-format on
    add_output_flags(opts, "run", out_default, "the run");
}

// The flag that sets each setting of both option structs.
SettingNames rnn_flag_names() {
    SettingNames names = {{"epochs", "--epochs"},
                          {"batch_size", "--batch-size"},
                          {"eval_batch_size", "--eval-batch-size"},
                          {"bptt", "--bptt"},
                          {"lr", "--learning-rate"},
                          {"wdecay", "--weight-decay"},
                          {"clip", "--grad-clip"},
                          {"emsize", "--nhid"},
                          {"nhid", "--nhid"},
                          {"dropout", "--dropout"},
                          {"dropouth", "--dropouth"},
                          {"dropoutx", "--dropoutx"},
                          {"dropouti", "--dropouti"},
                          {"dropoute", "--dropoute"},
                          {"alpha_lr", "--arch-learning-rate"},
                          {"alpha_weight_decay", "--arch-weight-decay"},
                          {"order", "--order"},
                          {"genotype", "--genotype"},
                          {"nonmono", "--nonmono"},
                          {"seed", "--seed"}};
    RunData::name_flags(names);
    return names;
}

// --emsize and --nhid: the reference ties them (the decoder's weight is the embedding).
void apply_model_flags(const cxxopts::ParseResult& args, RnnModelConfig& m) {
    if (args.count("nhid")) m.emsize = m.nhid = args["nhid"].as<int>();
    if (args.count("emsize")) {
        const int e = args["emsize"].as<int>();
        if (args.count("nhid") && e != m.nhid)
            throw InputError("--emsize: " + std::to_string(e) + " differs from --nhid " +
                             std::to_string(m.nhid) +
                             " (expected equal sizes: the decoder's weight is the embedding)");
        m.emsize = m.nhid = e;
    }
    for (const DropoutFlag& d : kDropoutFlags)
        if (args.count(d.name)) m.*d.member = args[d.name].as<float>();
}

template <class Options>
void apply_common_flags(const cxxopts::ParseResult& args, Options& o) {
    apply_model_flags(args, o.model);
    if (args.count("epochs")) o.epochs = args["epochs"].as<int>();
    if (args.count("batch-size")) o.batch_size = args["batch-size"].as<int>();
    if (args.count("eval-batch-size")) o.eval_batch_size = args["eval-batch-size"].as<int>();
    if (args.count("bptt")) o.bptt = args["bptt"].as<int>();
    if (args.count("learning-rate")) o.lr = args["learning-rate"].as<float>();
    if (args.count("weight-decay")) o.wdecay = args["weight-decay"].as<float>();
    if (args.count("grad-clip")) o.clip = args["grad-clip"].as<float>();
    if (args.count("seed")) o.seed = args["seed"].as<uint64_t>();
}

RunData text_data_from_environment() {
    return {.dataset = "text", .data = env_or("CUDARTS_TEXT_DATA", ""), .subset = 0};
}

// The corpus a run reads: the folder (the default corpus when none is named), its training
// stream cut to `subset` tokens when asked.
TextCorpus load_run_corpus(const RunData& data) {
    TextCorpus c = load_text_corpus(data.data);
    if (data.subset > 0 && size_t(data.subset) < c.train.size())
        c.train.resize(size_t(data.subset));
    return c;
}

template <class Options>
void apply_preset(const RnnPreset& p, RunInput<Options>& in) {
    in.options.model.emsize = in.options.model.nhid = p.nhid;
    in.options.epochs = p.epochs;
    in.options.batch_size = p.batch_size;
    in.options.bptt = p.bptt;
    in.data.subset = p.subset;
}

// The run's options and data: on --resume the run's own, checked against the flags (only --epochs
// may change), with `saved` the checkpoint's metadata; else `fresh` under the device's preset (the
// paper's settings, described by `paper`, or `cpu`), then the flags (`apply`).
template <class Options, class Apply>
RunInput<Options> rnn_run_input(const cxxopts::ParseResult& args, const RunDirectory& dir,
                                Device dev, RunInput<Options> fresh, const RnnPreset& cpu,
                                const char* paper, const char* command, const Apply& apply,
                                ResumeInfo& saved) {
    if (dir.resume) {
        saved = read_resume_info(dir.checkpoint, command);
        return resumed_input<Options>(saved, apply, rnn_flag_names());
    }
    const bool small = chosen_preset(args["preset"].as<std::string>(), dev.is_cpu()) == "cpu-small";
    if (small) apply_preset(cpu, fresh);
    std::printf("preset: %s\n", small ? cpu.description : paper);
    apply(fresh);
    return fresh;
}

// The start both recurrent run commands share once their flags are parsed: the device, the
// locked output directory (`holds` names its run for RunDirectory, "a search") and the run's input
// from rnn_run_input, to which the flags are applied in this order: those of both commands, the
// command's own (`apply_own` on the options), then the data flags. `saved` holds a resumed run's
// metadata.
template <class Options>
struct RnnRun {
    template <class ApplyOwn>
    RnnRun(const cxxopts::ParseResult& args, const char* holds, RunInput<Options> fresh,
           const RnnPreset& cpu, const char* paper, const char* command, const ApplyOwn& apply_own)
        : dev(parse_device(args["device"].as<std::string>(), "--device")),
          output(args, {"preset"}, holds),
          in(rnn_run_input(
              args, output, dev, std::move(fresh), cpu, paper, command,
              [&](RunInput<Options>& r) {
                  apply_common_flags(args, r.options);
                  apply_own(r.options);
                  r.data.apply_flags(args);
              },
              saved)) {}

    Device dev;
    RunDirectory output;
    ResumeInfo saved;
    RunInput<Options> in;
};

void print_corpus(const char* command, Device dev, const TextCorpus& c) {
    std::printf("cudarts %s --task rnn: device %s; %s, %d words, %zu / %zu / %zu tokens\n", command,
                describe(dev).c_str(), c.dir.c_str(), c.vocab_size(), c.train.size(),
                c.valid.size(), c.test.size());
}

void write_recurrent_genotypes(const fs::path& out, int epoch, const RecurrentGenotype& g) {
    char stem[32];
    std::snprintf(stem, sizeof stem, "genotype_%03d", epoch);
    const std::string darts = to_darts_string(g) + "\n", json = to_json(g).dump(2) + "\n";
    write_text(out / "epochs" / (std::string(stem) + ".txt"), darts);
    write_text(out / "epochs" / (std::string(stem) + ".json"), json);
    write_text(out / "genotype.txt", darts);
    write_text(out / "genotype.json", json);
}

double number_meta(const ResumeInfo& saved, const char* key) {
    try {
        return std::stod(saved.at(key));
    } catch (const std::logic_error&) {
        throw InputError(saved.checkpoint + ": metadata '" + key + "' is not a number");
    }
}

}  // namespace

int cmd_rnn_search(int argc, char** argv) {
    cxxopts::Options opts("cudarts search --task rnn",
                          "Recurrent DARTS search (a language model's cell) on PTB-format text.");
    add_data_flags(opts);
    add_model_flags(opts);
    add_run_flags(opts, "search-rnn-out");
    // clang-format off
    opts.add_options("architect")
        ("arch-learning-rate", "Adam learning rate of the alphas", cxxopts::value<float>())
        ("arch-weight-decay", "Adam weight decay of the alphas", cxxopts::value<float>())
        ("order", "architect: 1 (first order) or 2 (second order)", cxxopts::value<int>())
        ("unrolled", "same as --order 2 (the reference's flag)");
    // clang-format on
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    const RnnRun<RnnSearchOptions> run(
        args, "a search", {{}, text_data_from_environment()}, kRnnSearchCpu,
        "paper (nhid 300, batch 256, 50 epochs)", "search --task rnn", [&](RnnSearchOptions& o) {
            if (args.count("arch-learning-rate"))
                o.alpha_lr = args["arch-learning-rate"].as<float>();
            if (args.count("arch-weight-decay"))
                o.alpha_weight_decay = args["arch-weight-decay"].as<float>();
            o.second_order = second_order_flags(args, o.second_order);
        });
    const fs::path& out = run.output.dir;
    const fs::path& ckpt = run.output.checkpoint;
    double best_loss = 1e300;
    std::string best_genotype, last_metrics;
    if (run.output.resume) {
        best_loss = number_meta(run.saved, "best_valid_loss");
        best_genotype = run.saved.at("best_genotype");
        last_metrics = run.saved.last_metrics();
    }
    const TextCorpus corpus = load_run_corpus(run.in.data);
    RnnSearch search = with_input_names(rnn_flag_names(),
                                        [&] { return RnnSearch(run.in.options, corpus, run.dev); });
    if (run.output.resume) search.load(ckpt.string());
    const RnnSearchOptions& opt = search.options();
    print_corpus("search", run.dev, corpus);
    std::printf(
        "model: nhid %d, %d nodes; %lld weights; %s order; %d epochs of about %d steps, "
        "batch %d, bptt %d\n",
        opt.model.nhid, opt.model.steps, static_cast<long long>(search.model().weights().total()),
        opt.second_order ? "second" : "first", opt.epochs, search.steps_per_epoch(), opt.batch_size,
        opt.bptt);
    if (run.output.resume)
        std::printf("resuming %s after epoch %d of %d\n", out.c_str(), search.epoch(), opt.epochs);
    std::fflush(stdout);

    fs::create_directories(out / "epochs");
    MetricsLog metrics(out / "metrics.jsonl");
    if (run.output.resume && search.epoch() > 0) {
        metrics.resume(search.epoch(), last_metrics);
        write_recurrent_genotypes(out, search.epoch(), search.genotype());
    }
    Progress progress(args["print-step"].as<int>(), "ppl");
    while (!search.done()) {
        const int e = search.epoch();
        const RnnEpochMetrics m =
            run_shown_epoch(search, progress, opt.epochs, "search --task rnn", ckpt);
        const std::string darts = to_darts_string(m.genotype);
        if (m.valid_loss < best_loss) {
            best_loss = m.valid_loss;
            best_genotype = darts;
        }
        std::printf("epoch %d/%d train_ppl %.2f valid_ppl %.2f (%.1f s)\ngenotype %s\n", e + 1,
                    opt.epochs, std::exp(m.train_loss), std::exp(m.valid_loss), m.seconds,
                    darts.c_str());
        std::fflush(stdout);
        save_epoch(
            search, ckpt, run.in.data, m.to_json(), metrics,
            {{"best_valid_loss", std::to_string(best_loss)}, {"best_genotype", best_genotype}},
            [&] { write_recurrent_genotypes(out, e + 1, m.genotype); });
    }
    std::printf("final genotype %s\noutputs in %s\n", to_darts_string(search.genotype()).c_str(),
                out.c_str());
    std::printf(
        "Validation-Perplexity=%.4f\nBest-Genotype=%s\n", std::exp(best_loss),
        best_genotype.empty() ? to_darts_string(search.genotype()).c_str() : best_genotype.c_str());
    return 0;
}

int cmd_rnn_train(int argc, char** argv) {
    cxxopts::Options opts("cudarts train --task rnn",
                          "Train a recurrent genotype from scratch with NT-ASGD (the reference's "
                          "train.py by default).");
    add_data_flags(opts);
    add_model_flags(opts);
    add_run_flags(opts, "train-rnn-out");
    // clang-format off
    opts.add_options("training")
        ("genotype", "DARTS_V1, DARTS_V2 (default), a file (DARTS form or JSON) or the text",
         cxxopts::value<std::string>())
        ("nonmono", "validation losses before the switch to averaged SGD may trigger",
         cxxopts::value<int>());
    // clang-format on
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    const RnnRun<RnnTrainOptions> run(
        args, "a training run", {RnnTrainOptions::paper(), text_data_from_environment()},
        kRnnTrainCpu, "paper (nhid 850, batch 64, 8000 epochs)", "train --task rnn",
        [&](RnnTrainOptions& o) {
            if (args.count("genotype"))
                o.model.genotype = resolve_recurrent_genotype(args["genotype"].as<std::string>());
            if (args.count("nonmono")) o.nonmono = args["nonmono"].as<int>();
        });
    const fs::path& out = run.output.dir;
    const fs::path& ckpt = run.output.checkpoint;
    const std::string last_metrics = run.output.resume ? run.saved.last_metrics() : "";
    const TextCorpus corpus = load_run_corpus(run.in.data);
    RnnTrainer trainer = with_input_names(
        rnn_flag_names(), [&] { return RnnTrainer(run.in.options, corpus, run.dev); });
    if (run.output.resume) trainer.load(ckpt.string());
    const RnnTrainOptions& opt = trainer.options();
    print_corpus("train", run.dev, corpus);
    std::printf("model: nhid %d; %lld weights; %d epochs of about %d steps, batch %d, bptt %d\n",
                opt.model.nhid, static_cast<long long>(trainer.model().weights().total()),
                opt.epochs, trainer.steps_per_epoch(), opt.batch_size, opt.bptt);
    std::printf("genotype %s\n", to_darts_string(*opt.model.genotype).c_str());
    if (run.output.resume)
        std::printf("resuming %s after epoch %d of %d%s\n", out.c_str(), trainer.epoch(),
                    opt.epochs, trainer.averaging() ? " (averaged SGD)" : "");
    std::fflush(stdout);

    fs::create_directories(out);
    MetricsLog metrics(out / "metrics.jsonl");
    if (run.output.resume && trainer.epoch() > 0) metrics.resume(trainer.epoch(), last_metrics);
    Progress progress(args["print-step"].as<int>(), "ppl");
    while (!trainer.done()) {
        const int e = trainer.epoch();
        const RnnTrainEpoch m =
            run_shown_epoch(trainer, progress, opt.epochs, "train --task rnn", ckpt);
        std::printf("epoch %d/%d train_ppl %.2f valid_ppl %.2f%s%s%s (%.1f s)\n", e + 1, opt.epochs,
                    std::exp(m.train_loss), std::exp(m.valid_loss), m.averaged ? " (averaged)" : "",
                    m.improved ? " best" : "", m.switched ? "; switching to averaged SGD" : "",
                    m.seconds);
        if (m.rollbacks > 0)
            std::printf("epoch %d/%d: a non-finite loss rolled back to the best state %d time(s)\n",
                        e + 1, opt.epochs, m.rollbacks);
        std::fflush(stdout);
        save_epoch(trainer, ckpt, run.in.data, m.to_json(), metrics, {}, [] {});
    }
    trainer.use_best_weights();
    const double test_loss = test_text(trainer.model(), corpus.test, corpus.test_file, opt.bptt);
    std::printf("outputs in %s\n", out.c_str());
    std::printf("test_loss=%.6f\ntest_ppl=%.4f\n", test_loss, std::exp(test_loss));
    return 0;
}

int cmd_rnn_test(int argc, char** argv) {
    cxxopts::Options opts("cudarts test --task rnn",
                          "Evaluate a recurrent checkpoint (cudarts, or a PyTorch state_dict saved "
                          "as safetensors with the reference's names) as the reference's test.py "
                          "does: batch 1, segments of --bptt, the hidden state carried.");
    add_data_flags(opts);
    add_model_flags(opts);
    // clang-format off
    opts.add_options("test")
        ("checkpoint", "the .safetensors file", cxxopts::value<std::string>())
        ("genotype", "the cell (default: the checkpoint's, else DARTS_V2)", cxxopts::value<std::string>())
        ("bptt", "segment length", cxxopts::value<int>()->default_value("35"))
        ("eval-batch-size", "batch size (1: the reference's test protocol; 10: its validation)",
         cxxopts::value<int>()->default_value("1"))
        ("split", "test or valid", cxxopts::value<std::string>()->default_value("test"));
    // clang-format on
    cxxopts::ParseResult args;
    if (!parse_args(opts, argc, argv, args)) return 0;
    if (!args.count("checkpoint")) throw InputError("test --task rnn: expected --checkpoint FILE");
    const std::string path = args["checkpoint"].as<std::string>();
    const Device dev = parse_device(args["device"].as<std::string>(), "--device");
    const std::string split = args["split"].as<std::string>();
    if (split != "test" && split != "valid")
        throw InputError("--split: expected test or valid, got '" + split + "'");

    // The model: a cudarts training checkpoint's options, else the reference's evaluation model
    // with the sizes read off encoder.weight; then the flags.
    RnnModelConfig model = RnnTrainOptions::paper().model;
    const SafetensorsFile f = read_safetensors(path);
    const nlohmann::json options =
        f.metadata.count("options") ? checkpoint_json(f, "options") : nlohmann::json::object();
    if (options.contains("genotype") && options.contains("nonmono")) {
        model = RnnTrainOptions::from_json(options, metadata_name(path, "options")).model;
    } else if (options.contains("alpha_lr")) {
        throw InputError(path +
                         ": a search checkpoint (expected a training checkpoint or a "
                         "state_dict of the evaluation model)");
    } else {
        const auto enc =
            f.tensors.find(f.tensors.count("encoder.weight") ? "encoder.weight" : "decoder.weight");
        if (enc == f.tensors.end() || enc->second.shape.size() != 2)
            throw InputError(path +
                             ": no 2-D encoder.weight or decoder.weight (expected the "
                             "recurrent model's state_dict)");
        model.emsize = model.nhid = int(enc->second.shape[1]);
    }
    apply_model_flags(args, model);
    if (args.count("genotype"))
        model.genotype = resolve_recurrent_genotype(args["genotype"].as<std::string>());
    RunData data = text_data_from_environment();
    data.apply_flags(args);
    const TextCorpus corpus = load_text_corpus(data.data);
    model.ntoken = corpus.vocab_size();
    RnnModel net = with_input_names(rnn_flag_names(), [&] {
        model.validate();
        return RnnModel(model, dev, 0);
    });
    restore_rnn_weights(f, net);
    const int bptt = args["bptt"].as<int>(), batch = args["eval-batch-size"].as<int>();
    if (bptt < 1) throw InputError("--bptt: expected at least 1, got " + std::to_string(bptt));
    if (batch < 1)
        throw InputError("--eval-batch-size: expected at least 1, got " + std::to_string(batch));
    const bool test = split == "test";
    const Tensor source = batchify(test ? corpus.test : corpus.valid, batch,
                                   test ? corpus.test_file : corpus.valid_file)
                              .to(dev);
    const double loss = evaluate_text(net, source, bptt);
    std::printf("%s_loss=%.6f\n%s_ppl=%.4f\n", split.c_str(), loss, split.c_str(), std::exp(loss));
    return 0;
}

}  // namespace cudarts::apps
