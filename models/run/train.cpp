// Training and testing a discovered architecture; see models/run/train.h.
#include "models/run/train.h"

#include <cmath>
#include <numbers>
#include <numeric>

#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/nn/setting.h"

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
    r.net.require_fits(train.height, train.width);
    r.net.require_fits(test.height, test.width);
    if (r.net.auxiliary && !auxiliary_fits(r.net, train.height, train.width)) {
        const int side = auxiliary_map_side(r.net, train.height, train.width);
        const int need = auxiliary_map_needed(r.net);
        throw SettingError("auxiliary", "the auxiliary head needs maps of at least " +
                                            std::to_string(need) + "x" + std::to_string(need) +
                                            " at cell " + std::to_string(r.net.aux_cell()) +
                                            ", these " + std::to_string(train.height) + "x" +
                                            std::to_string(train.width) + " images give " +
                                            std::to_string(side) + "x" + std::to_string(side) +
                                            " (drop the auxiliary head or use larger images)");
    }
    return r;
}

}  // namespace

double TrainRecipe::lr_at(int epoch) const {
    if (step_schedule) return lr * std::pow(double(lr_gamma), epoch);
    return cosine_lr(lr, lr_min, epoch, epochs);
}

void TrainRecipe::validate() const {
    require(epochs >= 1, "epochs", "at least 1", epochs);
    require(batch_size >= 2, "batch_size", "at least 2", batch_size);
    require(lr > 0, "lr", "> 0", lr);
    require(lr_min >= 0, "lr_min", ">= 0", lr_min);
    require(momentum >= 0, "momentum", ">= 0", momentum);
    require(weight_decay >= 0, "weight_decay", ">= 0", weight_decay);
    require(grad_clip > 0, "grad_clip", "> 0", grad_clip);
    require(drop_path_prob >= 0 && drop_path_prob < 1, "drop_path_prob", "[0, 1)", drop_path_prob);
    require(label_smoothing >= 0 && label_smoothing < 1, "label_smoothing", "[0, 1)",
            label_smoothing);
    require(augment.cutout >= 0, "cutout", "0 or more", augment.cutout);
    net.validate();
}

namespace {

template <class Recipe, class Visitor>
void recipe_fields(Recipe& r, const Visitor& f) {
    f("in_channels", r.net.in_channels);
    f("classes", r.net.classes);
    f("init_channels", r.net.init_channels);
    f("layers", r.net.layers);
    f("auxiliary", r.net.auxiliary);
    f("imagenet", r.net.imagenet);
    f("genotype",
      MappedField<Genotype, std::string>{
          r.net.genotype, [](const Genotype& g) { return to_darts_string(g); },
          [](const std::string& s, const std::string& what) { return parse_genotype(s, what); }});
    f("epochs", r.epochs);
    f("batch_size", r.batch_size);
    f("lr", r.lr);
    f("lr_min", r.lr_min);
    f("momentum", r.momentum);
    f("weight_decay", r.weight_decay);
    f("grad_clip", r.grad_clip);
    f("step_schedule", r.step_schedule);
    f("lr_gamma", r.lr_gamma);
    f("drop_path_prob", r.drop_path_prob);
    f("aux_weight", r.aux_weight);
    f("label_smoothing", r.label_smoothing);
    f("crop_pad", r.augment.crop_pad);
    f("flip", r.augment.flip);
    f("cutout", r.augment.cutout);
    f("seed", r.seed);
}

}  // namespace

nlohmann::json TrainRecipe::to_json() const {
    return fields_to_json(*this, [](auto& r, const auto& f) { recipe_fields(r, f); });
}

TrainRecipe TrainRecipe::from_json(const nlohmann::json& j, const std::string& what) {
    return fields_from_json<TrainRecipe>(j, what,
                                         [](auto& r, const auto& f) { recipe_fields(r, f); });
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
    std::vector<int64_t> all(static_cast<size_t>(set.size()));
    std::iota(all.begin(), all.end(), int64_t(0));
    Generator unused(0);
    return evaluate_batches(
        set, split_batches(all, batch_size, kTestKeys), Augment{}, 0, net.device(),
        [&](const Var& x) { return net.forward(x, {.training = false}, 0.f, unused).logits; });
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

int Trainer::steps_per_epoch() const { return steps_for(train_.size(), recipe_.batch_size); }

TrainEpoch Trainer::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    const auto t0 = begin_epoch(done(), "Trainer::run_epoch", recipe_.epochs);
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

    EpochAccumulator sums;
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
        // A NaN or infinite loss or gradient norm stops the run at its step (DivergedError).
        const StepPlace at{epoch_, s, m.lr};
        const double l = sums.add(loss, out.logits, batch.labels);
        require_finite(l, "loss", at);
        backward(loss, net_.weights().vars());
        require_finite(clip_grad_norm(net_.weights(), recipe_.grad_clip), "the gradient norm", at);
        sgd_.step();
        if (on_step) on_step({epoch_, s, steps, l, sums.acc()});
    }
    m.train_loss = sums.loss();
    m.train_acc = sums.acc();
    std::tie(m.test_loss, m.test_acc) = evaluate(net_, test_, recipe_.batch_size);
    require_finite(m.test_loss, "the test loss", {epoch_, -1, m.lr});
    ++epoch_;
    m.seconds = epoch_seconds(t0);
    return m;
}

void Trainer::save(const std::string& path, const std::map<std::string, std::string>& extra) const {
    CheckpointWriter w;
    w.add_store(net_.weights());
    w.add_store(net_.buffers());
    add_momentum(w, sgd_);
    w.write(path, checkpoint_metadata(extra, kFormat, epoch_, recipe_.to_json(),
                                      to_darts_string(recipe_.net.genotype)));
}

std::map<std::string, std::string> Trainer::load(const std::string& path) {
    const SafetensorsFile f = read_checkpoint(path, kFormat);
    restore_store(f, net_.weights());
    restore_store(f, net_.buffers());
    restore_momentum(f, sgd_, net_.weights(), dev_);
    epoch_ = checkpoint_epoch(f, path, recipe_.epochs);
    return f.metadata;
}

}  // namespace cudarts
