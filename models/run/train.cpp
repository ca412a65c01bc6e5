// Training and testing a discovered architecture; see models/run/train.h.
#include "models/run/train.h"

#include <chrono>
#include <cmath>
#include <numbers>
#include <numeric>

#include "kernels/check.h"
#include "models/nn/checkpoint.h"

namespace cudarts {

namespace {

constexpr const char* kFormat = "cudarts-train-checkpoint-1";
enum SeedStream : uint64_t { kOrder = 11, kAugment = 12, kDropPath = 13, kTestKeys = 1ull << 62 };

TrainRecipe prepared(TrainRecipe r, const ImageDataset& train, const ImageDataset& test) {
    if (train.channels != test.channels || train.classes != test.classes)
        throw InputError("the test split has " + std::to_string(test.channels) + " channels and " +
                         std::to_string(test.classes) + " classes, the training split " +
                         std::to_string(train.channels) + " and " + std::to_string(train.classes));
    r.net.in_channels = train.channels;
    r.net.classes = train.classes;
    r.validate();
    // The auxiliary head pools 5x5 windows of cell 2L/3's output: H/4 (CIFAR) or H/32 (ImageNet).
    const int at_aux = std::min(train.height, train.width) / (r.net.imagenet ? 32 : 4);
    if (r.net.auxiliary && at_aux < 5)
        throw InputError("--auxiliary: the auxiliary head needs maps of at least 5x5 at cell " +
                         std::to_string(r.net.aux_cell()) + ", these " +
                         std::to_string(train.height) + "x" + std::to_string(train.width) +
                         " images give " + std::to_string(at_aux) + "x" + std::to_string(at_aux) +
                         " (use --auxiliary=false or larger images)");
    return r;
}

}  // namespace

double TrainRecipe::lr_at(int epoch) const {
    if (step_schedule) return lr * std::pow(double(lr_gamma), epoch);
    return lr_min +
           (double(lr) - lr_min) * (1.0 + std::cos(std::numbers::pi * epoch / epochs)) / 2.0;
}

void TrainRecipe::validate() const {
    auto need = [](bool ok, const std::string& msg) {
        if (!ok) throw InputError(msg);
    };
    need(epochs >= 1, "--epochs: expected at least 1, got " + std::to_string(epochs));
    need(batch_size >= 2, "--batch-size: expected at least 2, got " + std::to_string(batch_size));
    need(
        lr > 0 && lr_min >= 0 && momentum >= 0 && weight_decay >= 0 && grad_clip > 0,
        "optimizer: expected lr > 0, lr_min >= 0, momentum >= 0, weight_decay >= 0, grad_clip > 0");
    need(drop_path_prob >= 0 && drop_path_prob < 1,
         "--drop-path-prob: expected [0, 1), got " + std::to_string(drop_path_prob));
    need(label_smoothing >= 0 && label_smoothing < 1,
         "--label-smoothing: expected [0, 1), got " + std::to_string(label_smoothing));
    need(augment.cutout >= 0,
         "--cutout: expected 0 or more, got " + std::to_string(augment.cutout));
    net.validate();
}

nlohmann::json TrainRecipe::to_json() const {
    return {{"in_channels", net.in_channels},
            {"classes", net.classes},
            {"init_channels", net.init_channels},
            {"layers", net.layers},
            {"auxiliary", net.auxiliary},
            {"imagenet", net.imagenet},
            {"genotype", to_darts_string(net.genotype)},
            {"epochs", epochs},
            {"batch_size", batch_size},
            {"lr", lr},
            {"lr_min", lr_min},
            {"momentum", momentum},
            {"weight_decay", weight_decay},
            {"grad_clip", grad_clip},
            {"step_schedule", step_schedule},
            {"lr_gamma", lr_gamma},
            {"drop_path_prob", drop_path_prob},
            {"aux_weight", aux_weight},
            {"label_smoothing", label_smoothing},
            {"crop_pad", augment.crop_pad},
            {"flip", augment.flip},
            {"cutout", augment.cutout},
            {"seed", seed}};
}

TrainRecipe TrainRecipe::from_json(const nlohmann::json& j) {
    TrainRecipe r;
    auto get = [&](const char* key, auto& field) {
        if (j.contains(key)) field = j.at(key).get<std::remove_reference_t<decltype(field)>>();
    };
    get("in_channels", r.net.in_channels);
    get("classes", r.net.classes);
    get("init_channels", r.net.init_channels);
    get("layers", r.net.layers);
    get("auxiliary", r.net.auxiliary);
    get("imagenet", r.net.imagenet);
    if (j.contains("genotype"))
        r.net.genotype = parse_genotype(j.at("genotype").get<std::string>());
    get("epochs", r.epochs);
    get("batch_size", r.batch_size);
    get("lr", r.lr);
    get("lr_min", r.lr_min);
    get("momentum", r.momentum);
    get("weight_decay", r.weight_decay);
    get("grad_clip", r.grad_clip);
    get("step_schedule", r.step_schedule);
    get("lr_gamma", r.lr_gamma);
    get("drop_path_prob", r.drop_path_prob);
    get("aux_weight", r.aux_weight);
    get("label_smoothing", r.label_smoothing);
    get("crop_pad", r.augment.crop_pad);
    get("flip", r.augment.flip);
    get("cutout", r.augment.cutout);
    get("seed", r.seed);
    return r;
}

nlohmann::json TrainEpoch::to_json() const {
    return {{"epoch", epoch},
            {"lr", lr},
            {"drop_path_prob", drop_path_prob},
            {"train_loss", train_loss},
            {"train_acc", train_acc},
            {"test_loss", test_loss},
            {"test_acc", test_acc},
            {"seconds", seconds}};
}

std::pair<double, double> evaluate(EvalNetwork& net, const ImageDataset& set, int batch_size) {
    NoGradGuard no_grad;
    std::vector<int64_t> all(static_cast<size_t>(set.size()));
    std::iota(all.begin(), all.end(), int64_t(0));
    std::vector<BatchRequest> requests = split_batches(all, batch_size, kTestKeys);
    const size_t batches = requests.size();
    BatchLoader loader(set, Augment{}, 0, net.device());
    loader.start(std::move(requests));
    Generator unused(0);
    double loss_sum = 0;
    int64_t correct = 0;
    for (size_t b = 0; b < batches; ++b) {
        const Batch batch = loader.next();
        const Var logits = net.forward(Var(batch.images), {.training = false}, 0.f, unused).logits;
        loss_sum +=
            cross_entropy(logits, batch.labels).value().item() * double(batch.images.size(0));
        correct += count_correct(logits, batch.labels);
    }
    const double n = double(std::max<int64_t>(1, set.size()));
    return {loss_sum / n, double(correct) / n};
}

void load_weights(EvalNetwork& net, const std::string& path) {
    const SafetensorsFile f = read_safetensors(path);
    restore_store(f, net.weights());
    restore_store(f, net.buffers());
}

Trainer::Trainer(TrainRecipe recipe, const ImageDataset& train, const ImageDataset& test,
                 Device dev)
    : recipe_(prepared(std::move(recipe), train, test)),
      train_(train),
      test_(test),
      dev_(dev),
      net_(recipe_.net, dev, recipe_.seed),
      sgd_(net_.weights(),
           {.lr = recipe_.lr, .momentum = recipe_.momentum, .weight_decay = recipe_.weight_decay}) {
}

int Trainer::steps_per_epoch() const {
    return int((train_.size() + recipe_.batch_size - 1) / recipe_.batch_size);
}

TrainEpoch Trainer::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    CUDARTS_CHECK(!done(), "Trainer::run_epoch: all " << recipe_.epochs << " epochs are done");
    const auto t0 = std::chrono::steady_clock::now();
    TrainEpoch m;
    m.epoch = epoch_;
    m.lr = recipe_.lr_at(epoch_);
    m.drop_path_prob = double(recipe_.drop_path_prob) * epoch_ / recipe_.epochs;
    sgd_.set_lr(float(m.lr));

    const int steps = steps_per_epoch();
    const std::vector<int64_t> order =
        permutation(train_.size(), mix64(recipe_.seed, kOrder), uint64_t(epoch_));
    BatchLoader loader(train_, recipe_.augment, mix64(recipe_.seed, kAugment), dev_);
    loader.start(split_batches(order, recipe_.batch_size, uint64_t(epoch_) * uint64_t(steps)));

    double loss_sum = 0;
    int64_t seen = 0, correct = 0;
    const float smoothing = recipe_.label_smoothing;
    for (int s = 0; s < steps; ++s) {
        const Batch batch = loader.next();
        Generator gen(mix64(recipe_.seed, kDropPath),
                      (uint64_t(epoch_) * uint64_t(steps) + uint64_t(s)) << 20);
        const EvalNetwork::Output out =
            net_.forward(Var(batch.images), {.training = true}, float(m.drop_path_prob), gen);
        Var loss = cross_entropy(out.logits, batch.labels, smoothing);
        if (out.logits_aux.defined())
            loss = add(loss, scale(cross_entropy(out.logits_aux, batch.labels, smoothing),
                                   recipe_.aux_weight));
        backward(loss, net_.weights().vars());
        clip_grad_norm(net_.weights(), recipe_.grad_clip);
        sgd_.step();

        const int64_t n = batch.images.size(0);
        const double l = loss.value().item();
        loss_sum += l * double(n);
        correct += count_correct(out.logits, batch.labels);
        seen += n;
        if (on_step) on_step({epoch_, s, steps, l, double(correct) / double(seen)});
    }
    m.train_loss = loss_sum / double(seen);
    m.train_acc = double(correct) / double(seen);
    std::tie(m.test_loss, m.test_acc) = evaluate(net_, test_, recipe_.batch_size);
    ++epoch_;
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m;
}

void Trainer::save(const std::string& path, const std::map<std::string, std::string>& extra) const {
    CheckpointWriter w;
    w.add_store(net_.weights());
    w.add_store(net_.buffers());
    if (sgd_.momentum_buffer().defined())
        w.add("optimizer.momentum_buffer", sgd_.momentum_buffer());
    std::map<std::string, std::string> metadata = extra;
    metadata["format"] = kFormat;
    metadata["epoch"] = std::to_string(epoch_);
    metadata["options"] = recipe_.to_json().dump();
    metadata["genotype"] = to_darts_string(recipe_.net.genotype);
    w.write(path, metadata);
}

std::map<std::string, std::string> Trainer::load(const std::string& path) {
    const SafetensorsFile f = read_safetensors(path);
    if (checkpoint_meta(f, "format") != kFormat)
        throw InputError(path + ": format '" + checkpoint_meta(f, "format") + "', expected '" +
                         kFormat + "'");
    restore_store(f, net_.weights());
    restore_store(f, net_.buffers());
    if (f.tensors.count("optimizer.momentum_buffer")) {
        Tensor buf = Tensor::empty({net_.weights().total()}, dev_);
        restore_tensor(f, "optimizer.momentum_buffer", buf);
        sgd_.set_momentum_buffer(buf);
    } else {
        sgd_.set_momentum_buffer(Tensor());
    }
    try {
        epoch_ = std::stoi(checkpoint_meta(f, "epoch"));
    } catch (const std::logic_error&) {
        throw InputError(path + ": metadata 'epoch' is not an integer");
    }
    if (epoch_ < 0 || epoch_ > recipe_.epochs)
        throw InputError(path + ": epoch " + std::to_string(epoch_) + " outside 0.." +
                         std::to_string(recipe_.epochs));
    return f.metadata;
}

}  // namespace cudarts
