#include "models/enas/search.h"

#include <cmath>
#include <numeric>

#include "autograd/ops.h"
#include "data/transforms.h"
#include "engine/json.h"
#include "kernels/check.h"
#include "models/enas/trial.h"
#include "models/nn/checkpoint.h"
#include "models/nn/setting.h"

namespace cudarts::enas {
namespace {

constexpr const char* kFormat = "cudarts-enas";

// Seed streams: each random choice draws from its own stream, positioned by (epoch, step).
enum SeedStream : uint64_t {
    kControllerInit = 31,
    kShared = 32,
    kTrainOrder = 33,
    kAugment = 34,
    kValidOrder = 35,
    kSampleTrain = 36,
    kSampleScore = 37,
    kSampleUpdate = 38,
    kSampleEval = 39,
};

Generator sampler(uint64_t seed, SeedStream s, int epoch, int step) {
    return Generator(mix64(seed, s), (uint64_t(epoch) << 32 | uint64_t(step)) << 8);
}

}  // namespace

void EnasOptions::validate() const {
    validate_controller_settings(controller);
    require(epochs >= 1 && epochs <= 100000, "epochs", "1..100000", epochs);
    require(child_steps >= 0 && child_steps <= 1000000, "child_steps", "0..1000000", child_steps);
    require(batch_size >= 1 && batch_size <= 65536, "batch_size", "1..65536", batch_size);
    require(child_lr > 0.f && std::isfinite(child_lr), "child_lr", "a positive number", child_lr);
    require(eval_children >= 1 && eval_children <= 10000, "eval_children", "1..10000",
            eval_children);
}

nlohmann::json EnasOptions::to_json() const {
    return {{"controller", controller_settings_json(controller)},
            {"epochs", epochs},
            {"child_steps", child_steps},
            {"batch_size", batch_size},
            {"child_lr", child_lr},
            {"eval_children", eval_children},
            {"katib_reward", katib_reward},
            {"seed", seed}};
}

EnasOptions EnasOptions::from_json(const nlohmann::json& j, const std::string& what) {
    if (!j.is_object()) throw InputError(what + ": expected a JSON object");
    EnasOptions o;
    if (j.contains("controller"))
        o.controller = controller_settings_from_json(j.at("controller"), what);
    auto get = [&](const char* key, auto& member) {
        using T = std::remove_reference_t<decltype(member)>;
        if (j.contains(key)) member = json_member<T>(j.at(key), what, key);
    };
    get("epochs", o.epochs);
    get("child_steps", o.child_steps);
    get("batch_size", o.batch_size);
    get("child_lr", o.child_lr);
    get("eval_children", o.eval_children);
    get("katib_reward", o.katib_reward);
    get("seed", o.seed);
    return o;
}

nlohmann::json EnasEpoch::to_json() const {
    return {{"epoch", epoch + 1},
            {"child_loss", child_loss},
            {"child_acc", child_acc},
            {"unbuildable", unbuildable},
            {"reward", reward_mean},
            {"baseline", baseline},
            {"controller_loss", controller_loss},
            {"entropy", entropy},
            {"skip_rate", skip_rate},
            {"grad_norm", grad_norm},
            {"best_architecture", architecture_text(best)},
            {"best_valid_acc", best_acc},
            {"shared_blocks", shared_blocks},
            {"shared_parameters", shared_parameters},
            {"seconds", seconds}};
}

EnasSearch::EnasSearch(SearchSpace space, EnasOptions opt, const ImageDataset& train,
                       const ImageDataset& valid, Device dev)
    : space_(std::move(space)),
      opt_(opt),
      train_(train),
      valid_(valid),
      dev_(dev),
      controller_(space_.num_layers, int(space_.ops.size()), opt.controller,
                  mix64(opt.seed, kControllerInit)),
      shared_(dev, mix64(opt.seed, kShared), AdamOptions{.lr = opt.child_lr}) {
    opt_.validate();
    if (train.height != space_.height || train.width != space_.width ||
        train.channels != space_.channels)
        throw InputError("search space: inputSizes [" + std::to_string(space_.height) + ", " +
                         std::to_string(space_.width) + ", " + std::to_string(space_.channels) +
                         "], but the images are " + std::to_string(train.height) + "x" +
                         std::to_string(train.width) + "x" + std::to_string(train.channels));
    if (space_.classes < train.classes)
        throw InputError("search space: outputSizes [" + std::to_string(space_.classes) +
                         "], but the data set has " + std::to_string(train.classes) + " classes");
    CUDARTS_CHECK(train.size() > 0 && valid.size() > 0, "EnasSearch: an empty split");
}

std::optional<ChildPlan> EnasSearch::plan(const Architecture& arch) const {
    try {
        return plan_child(space_.nn_config(arch), arch, "child");
    } catch (const InputError&) {
        return std::nullopt;
    }
}

double EnasSearch::accuracy(const Architecture& arch, std::vector<BatchRequest> batches) {
    const std::optional<ChildPlan> p = plan(arch);
    if (!p) return 0;
    NoGradGuard no_grad;
    const SharedWeights::View v = shared_.view(*p, ops_of(arch));
    return evaluate_batches(valid_, std::move(batches), Augment{}, 0, dev_,
                            [&](const Var& x) {
                                return child_forward(*p, v.layers, v.classifier_weight,
                                                     v.classifier_bias, x, {.training = false});
                            })
        .second;
}

EnasEpoch EnasSearch::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    const auto t0 = begin_epoch(done(), "EnasSearch::run_epoch", opt_.epochs);
    EnasEpoch m;
    m.epoch = epoch_;
    const uint64_t seed = opt_.seed;

    // 1. The shared weights: one sampled child per training batch.
    const int train_batches_n = steps_for(train_.size(), opt_.batch_size);
    const std::vector<int64_t> order =
        permutation(train_.size(), mix64(seed, kTrainOrder), uint64_t(epoch_));
    std::vector<BatchRequest> all = split_batches(order, opt_.batch_size, uint64_t(epoch_) << 32);
    double loss_sum = 0, acc_sum = 0;
    int trained = 0;
    for (int s = 0; s < opt_.child_steps; ++s) {
        Generator gen = sampler(seed, kSampleTrain, epoch_, s);
        const Architecture arch = controller_.sample(gen);
        const std::optional<ChildPlan> p = plan(arch);
        if (!p) {
            ++m.unbuildable;
            continue;
        }
        SharedWeights::View v = shared_.view(*p, ops_of(arch));
        BatchRequest batch = all[size_t(s % train_batches_n)];
        batch.key = (uint64_t(epoch_) << 32) | uint64_t(s);
        const ChildModel child{.logits =
                                   [&](const Var& x, ForwardMode mode) {
                                       return child_forward(*p, v.layers, v.classifier_weight,
                                                            v.classifier_bias, x, mode);
                                   },
                               .params = v.params,
                               .step = [&] { shared_.step(v); }};
        const auto [loss, acc] = train_batches(child, train_, {batch}, katib_augment(train_),
                                               mix64(seed, kAugment), dev_, epoch_);
        loss_sum += loss, acc_sum += acc, ++trained;
        if (on_step) on_step({epoch_, s, opt_.child_steps, loss, acc_sum / double(trained)});
    }
    m.child_loss = trained ? loss_sum / trained : 0;
    m.child_acc = trained ? acc_sum / trained : 0;

    // 2. The controller: each child scored on one held-out batch.
    const int valid_batches_n = steps_for(valid_.size(), opt_.batch_size);
    const std::vector<BatchRequest> held =
        split_batches(permutation(valid_.size(), mix64(seed, kValidOrder), uint64_t(epoch_)),
                      opt_.batch_size, uint64_t(epoch_) << 32);
    const int updates = controller_.settings().train_steps;
    std::vector<std::pair<Architecture, double>> scored;
    for (int t = 0; t < updates; ++t) {
        Generator gen = sampler(seed, kSampleScore, epoch_, t);
        Architecture arch = controller_.sample(gen);
        const double r = accuracy(arch, {held[size_t(t % valid_batches_n)]});
        scored.emplace_back(std::move(arch), r);
        rewards_.push_back(r);
    }
    const double katib_r =
        std::accumulate(rewards_.begin(), rewards_.end(), 0.0) / double(rewards_.size());
    for (int t = 0; t < updates; ++t) {
        Architecture arch = scored[size_t(t)].first;
        double r = scored[size_t(t)].second;
        if (opt_.katib_reward) {  // Katib: a fresh architecture with the average of all rewards
            Generator gen = sampler(seed, kSampleUpdate, epoch_, t);
            arch = controller_.sample(gen);
            r = katib_r;
        }
        const UpdateStats u = controller_.update(arch, r);
        require_finite(u.loss, "the controller loss", {epoch_, t, opt_.controller.learning_rate});
        m.reward_mean += scored[size_t(t)].second / updates;
        m.baseline = u.baseline;
        m.controller_loss += u.loss / updates;
        m.grad_norm += u.grad_norm / updates;
        m.entropy += u.entropy / updates;
        m.skip_rate += u.skip_rate / updates;
    }

    // 3. The epoch's answer: the best of eval_children children on the whole held-out split.
    const std::vector<BatchRequest> whole = whole_set_batches(valid_, opt_.batch_size);
    m.best_acc = -1;
    for (int c = 0; c < opt_.eval_children; ++c) {
        Generator gen = sampler(seed, kSampleEval, epoch_, c);
        const Architecture arch = controller_.sample(gen);
        const double acc = accuracy(arch, whole);
        if (acc > m.best_acc) m.best_acc = acc, m.best = arch;
    }
    best_ = m.best;
    best_acc_ = m.best_acc;
    m.shared_blocks = shared_.blocks();
    m.shared_parameters = shared_.parameters();
    ++epoch_;
    m.seconds = epoch_seconds(t0);
    return m;
}

void EnasSearch::save(const std::string& path,
                      const std::map<std::string, std::string>& extra) const {
    CheckpointWriter w;
    std::map<std::string, std::string> meta = extra;
    w.add_store(controller_.weights());
    const Adam& adam = controller_.optimizer();
    w.add("controller.adam.exp_avg", adam.exp_avg());
    w.add("controller.adam.exp_avg_sq", adam.exp_avg_sq());
    shared_.save(w, meta);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", controller_.baseline());
    meta["baseline"] = buf;
    meta["controller_adam_step"] = std::to_string(adam.steps());
    meta["rewards"] = nlohmann::json(rewards_).dump();
    meta["best_architecture"] = architecture_text(best_);
    std::snprintf(buf, sizeof buf, "%.17g", best_acc_);
    meta["best_acc"] = buf;
    meta["space"] = space_.to_json().dump();
    meta["format"] = kFormat;
    meta["epoch"] = std::to_string(epoch_);
    meta["options"] = opt_.to_json().dump();
    w.write(path, meta);
}

std::map<std::string, std::string> EnasSearch::load(const std::string& path) {
    const SafetensorsFile f = read_checkpoint(path, kFormat);
    restore_store(f, controller_.weights());
    const int64_t n = controller_.weights().total();
    Tensor m = Tensor::empty({n}), v = Tensor::empty({n});
    restore_tensor(f, "controller.adam.exp_avg", m);
    restore_tensor(f, "controller.adam.exp_avg_sq", v);
    auto number = [&](const char* key) {
        const std::string text = checkpoint_meta(f, key);
        const nlohmann::json j = parse_json(text, metadata_name(path, key));
        if (!j.is_number()) throw InputError(metadata_name(path, key) + ": expected a number");
        return j.get<double>();
    };
    const double steps = number("controller_adam_step");
    if (steps < 0 || steps != std::floor(steps))
        throw InputError(metadata_name(path, "controller_adam_step") + ": expected a count");
    controller_.optimizer().set_state(m, v, int64_t(steps));
    controller_.set_baseline(number("baseline"));
    shared_.load(f, path);
    const nlohmann::json rewards =
        parse_json(checkpoint_meta(f, "rewards"), metadata_name(path, "rewards"));
    if (!rewards.is_array()) throw InputError(metadata_name(path, "rewards") + ": expected a list");
    rewards_.clear();
    for (const nlohmann::json& r : rewards) {
        if (!r.is_number()) throw InputError(metadata_name(path, "rewards") + ": expected numbers");
        rewards_.push_back(r.get<double>());
    }
    const std::string best_text = checkpoint_meta(f, "best_architecture");
    best_ = best_text == "[]" ? Architecture{}  // saved before the first epoch ended
                              : parse_architecture(
                                    parse_json(best_text, metadata_name(path, "best_architecture")),
                                    metadata_name(path, "best_architecture"));
    best_acc_ = number("best_acc");
    epoch_ = checkpoint_epoch(f, path, opt_.epochs);
    return f.metadata;
}

}  // namespace cudarts::enas
