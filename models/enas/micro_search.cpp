// The ENAS micro search loop and its checkpoint; see models/enas/micro_search.h.
#include "models/enas/micro_search.h"

#include <cmath>
#include <cstdio>
#include <numeric>
#include <unordered_set>

#include "autograd/ops.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/nn/setting.h"

namespace cudarts::enas {

namespace {

constexpr const char* kFormat = "cudarts-enas-micro";

// DARTS's weight settings (reference/darts.md 3).
constexpr float kMomentum = 0.9f, kWeightDecay = 3e-4f, kGradClip = 5.f;

// Independent sub-seeds (data/transforms.h mix64) for every kind of random choice; the position
// inside a stream is (epoch << 32) + step.
enum SeedStream : uint64_t {
    kOrder = 1,        // permutations of the weight half
    kAugment = 2,      // augmentation of the weight half's batches
    kChild = 3,        // the child of each training step
    kRewardChild = 4,  // the child each controller step scores
    kRewardBatch = 5,  // its held-out batch
    kFreshChild = 6,   // katib_reward: the architecture each update takes
    kEvalChild = 7,    // the end-of-epoch candidates
    kController = 8,   // the controller's initial weights
};

uint64_t at(int epoch, int step) { return (uint64_t(epoch) << 32) + uint64_t(step); }

template <class Options, class Visitor>
void micro_fields(Options& o, const Visitor& f) {
    search_net_fields(o.net, f);
    f("epochs", o.epochs);
    f("child_steps", o.child_steps);
    f("batch_size", o.batch_size);
    f("eval_children", o.eval_children);
    f("katib_reward", o.katib_reward);
    f("seed", o.seed);
    f("lr", o.lr);
    f("lr_min", o.lr_min);
    f("train_portion", o.train_portion);
    f("crop_pad", o.augment.crop_pad);
    f("flip", o.augment.flip);
    f("cutout", o.augment.cutout);
}

MicroOptions prepared(MicroOptions opt, const ImageDataset& data) {
    opt.net.in_channels = data.channels;
    opt.net.classes = data.classes;
    if (opt.net.primitives.empty()) opt.net.primitives = darts_primitives();
    opt.validate();
    opt.net.validate();
    opt.net.require_fits(data.height, data.width);
    return opt;
}

// Mean of xs, 0 for none.
double mean_of(const std::vector<double>& xs) {
    return xs.empty() ? 0.0 : std::accumulate(xs.begin(), xs.end(), 0.0) / double(xs.size());
}

}  // namespace

nlohmann::json MicroOptions::to_json() const {
    nlohmann::json j = fields_to_json(*this, [](auto& o, const auto& f) { micro_fields(o, f); });
    j["controller"] = controller_settings_json(controller);
    return j;
}

MicroOptions MicroOptions::from_json(const nlohmann::json& j, const std::string& what) {
    MicroOptions o =
        fields_from_json<MicroOptions>(j, what, [](auto& m, const auto& f) { micro_fields(m, f); });
    if (j.contains("controller"))
        o.controller = controller_settings_from_json(j.at("controller"), what);
    return o;
}

void MicroOptions::validate() const {
    require(epochs >= 1, "epochs", "at least 1", epochs);
    require(child_steps >= 1, "child_steps", "at least 1", child_steps);
    require(batch_size >= 2, "batch_size", "at least 2", batch_size);
    require(eval_children >= 1, "eval_children", "at least 1", eval_children);
    require(lr > 0 && std::isfinite(lr), "lr", "> 0", lr);
    require(lr_min >= 0 && std::isfinite(lr_min), "lr_min", ">= 0", lr_min);
    require(train_portion > 0 && train_portion < 1, "train_portion", "a fraction in (0, 1)",
            train_portion);
    validate_controller_settings(controller);
}

nlohmann::json MicroEpoch::to_json() const {
    return {{"epoch", epoch},
            {"lr", lr},
            {"child_loss", child_loss},
            {"child_acc", child_acc},
            {"reward_mean", reward_mean},
            {"baseline", baseline},
            {"controller_loss", controller_loss},
            {"entropy", entropy},
            {"best_acc", best_acc},
            {"seconds", seconds},
            {"genotype", to_darts_string(best)}};
}

MicroSearch::MicroSearch(MicroOptions opt, const ImageDataset& train, Device dev)
    : opt_(prepared(std::move(opt), train)),
      data_(train),
      dev_(dev),
      split_(int64_t(std::floor(opt_.train_portion * double(train.size())))),
      net_(opt_.net, dev, opt_.seed),
      sgd_(net_.weights(), {.lr = opt_.lr, .momentum = kMomentum, .weight_decay = kWeightDecay}),
      controller_(opt_.net.nodes, opt_.net.primitives, opt_.controller,
                  mix64(opt_.seed, kController)) {
    if (split_ < 1 || train.size() - split_ < 1)
        throw SettingError("train_portion", std::to_string(opt_.train_portion) + " of " +
                                                std::to_string(train.size()) +
                                                " images leaves one half empty (expected both "
                                                "halves non-empty)");
}

Genotype MicroSearch::sample(uint64_t stream, uint64_t position, MicroArch* arch) const {
    Generator gen(mix64(mix64(opt_.seed, stream), position));
    const MicroArch a = controller_.sample(gen);
    if (arch) *arch = a;
    return controller_.genotype(a, net_.config().has_reduction());
}

BatchRequest MicroSearch::held_out_batch(uint64_t stream, uint64_t position) const {
    // An independent uniform random subset of the held-out half, full size unless the half is
    // smaller than a batch (as the DARTS search draws its α batches).
    const int64_t n = data_.size() - split_;
    const int64_t b = std::min<int64_t>(opt_.batch_size, n);
    Generator gen(mix64(mix64(opt_.seed, stream), position));
    BatchRequest r;
    std::unordered_set<int64_t> taken;
    while (int64_t(r.idx.size()) < b) {
        const int64_t i = int64_t(gen.below(uint64_t(n)));
        if (taken.insert(i).second) r.idx.push_back(split_ + i);
    }
    return r;
}

int64_t MicroSearch::correct(const Genotype& g, const Batch& b) {
    NoGradGuard no_grad;
    const Var logits =
        net_.forward_discrete(Var(b.images), g, {.training = true, .track_stats = false});
    return count_correct(logits, b.labels);
}

MicroEpoch MicroSearch::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    const auto t0 = begin_epoch(done(), "MicroSearch::run_epoch", opt_.epochs);
    MicroEpoch m;
    m.epoch = epoch_;
    m.lr = cosine_lr(opt_.lr, opt_.lr_min, epoch_, opt_.epochs);
    sgd_.set_lr(float(m.lr));

    // (a) the shared weights, one freshly sampled child per batch.
    const int steps = opt_.child_steps;
    std::vector<int64_t> order;
    for (uint64_t pass = 0; int64_t(order.size()) < int64_t(steps) * opt_.batch_size; ++pass) {
        const std::vector<int64_t> p =
            permutation(split_, mix64(mix64(opt_.seed, kOrder), uint64_t(epoch_)), pass);
        order.insert(order.end(), p.begin(), p.end());
    }
    std::vector<BatchRequest> requests;
    for (int s = 0; s < steps; ++s) {
        BatchRequest r;
        r.key = at(epoch_, s);
        r.idx.assign(order.begin() + int64_t(s) * opt_.batch_size,
                     order.begin() + int64_t(s + 1) * opt_.batch_size);
        requests.push_back(std::move(r));
    }
    {
        BatchLoader loader(data_, opt_.augment, mix64(opt_.seed, kAugment), dev_);
        loader.start(std::move(requests));
        EpochAccumulator sums;
        for (int s = 0; s < steps; ++s) {
            const StepPlace place{epoch_, s, m.lr};
            const Genotype child = sample(kChild, at(epoch_, s));
            const Batch batch = loader.next();
            const Var logits = net_.forward_discrete(Var(batch.images), child);
            const Var loss = cross_entropy(logits, batch.labels);
            const double l = sums.add(loss, logits, batch.labels);
            require_finite(l, "loss", place);
            // Every weight is listed, so the ops this child does not use get zero gradients.
            backward(loss, net_.weights().vars());
            require_finite(clip_grad_norm(net_.weights(), kGradClip), "the gradient norm", place);
            sgd_.step();
            if (on_step) on_step({epoch_, s, steps, l, sums.acc()});
        }
        m.child_loss = sums.loss();
        m.child_acc = sums.acc();
    }

    // (b) the controller, each child rewarded by its accuracy on one held-out batch.
    const int updates = controller_.settings().train_steps;
    std::vector<BatchRequest> reward_batches;
    for (int i = 0; i < updates; ++i)
        reward_batches.push_back(held_out_batch(kRewardBatch, at(epoch_, i)));
    BatchLoader plain(data_, Augment{}, 0, dev_);
    plain.start(std::move(reward_batches));
    std::vector<double> accs, losses, entropies;
    auto policy_step = [&](const MicroArch& arch, double reward) {
        const UpdateStats st = controller_.update(arch, reward);
        entropies.push_back(st.entropy);
        require_finite(st.loss, "the controller loss", {epoch_, -1, m.lr});
        losses.push_back(st.loss);
    };
    for (int i = 0; i < updates; ++i) {
        MicroArch arch;
        const Genotype child = sample(kRewardChild, at(epoch_, i), &arch);
        const Batch batch = plain.next();
        accs.push_back(double(correct(child, batch)) / double(batch.labels.numel()));
        if (!opt_.katib_reward) policy_step(arch, accs.back());
    }
    if (opt_.katib_reward) {
        // Katib's flow (2.8): one reward, the mean over every child scored so far, for updates
        // on freshly sampled architectures.
        rewards_.insert(rewards_.end(), accs.begin(), accs.end());
        const double reward = mean_of(rewards_);
        for (int i = 0; i < updates; ++i) {
            MicroArch fresh;
            sample(kFreshChild, at(epoch_, i), &fresh);
            policy_step(fresh, reward);
        }
    }
    m.reward_mean = mean_of(accs);
    m.controller_loss = mean_of(losses);
    m.entropy = mean_of(entropies);
    m.baseline = controller_.baseline();

    // (c) candidates scored on the whole held-out half; the best one is the epoch's result.
    std::vector<BatchRequest> held_out;
    for (int c = 0; c < opt_.eval_children; ++c)
        for (int64_t b = split_; b < data_.size(); b += opt_.batch_size) {
            BatchRequest r;
            for (int64_t i = b; i < std::min<int64_t>(data_.size(), b + opt_.batch_size); ++i)
                r.idx.push_back(i);
            held_out.push_back(std::move(r));
        }
    plain.start(std::move(held_out));
    m.best_acc = -1;
    for (int c = 0; c < opt_.eval_children; ++c) {
        const Genotype child = sample(kEvalChild, at(epoch_, c));
        int64_t hits = 0;
        for (int64_t b = split_; b < data_.size(); b += opt_.batch_size)
            hits += correct(child, plain.next());
        const double acc = double(hits) / double(data_.size() - split_);
        if (acc > m.best_acc) {
            m.best_acc = acc;
            m.best = child;
        }
    }
    best_ = m.best;
    best_acc_ = m.best_acc;
    ++epoch_;
    m.seconds = epoch_seconds(t0);
    return m;
}

void MicroSearch::save(const std::string& path,
                       const std::map<std::string, std::string>& extra) const {
    CheckpointWriter w;
    w.add_store(net_.weights());
    w.add_store(net_.buffers());
    add_momentum(w, sgd_);
    const ParamStore& c = controller_.weights();
    for (int i = 0; i < c.size(); ++i)
        w.add_shaped("controller." + c.names()[size_t(i)], c[i].value());
    w.add("controller.adam.exp_avg", controller_.optimizer().exp_avg());
    w.add("controller.adam.exp_avg_sq", controller_.optimizer().exp_avg_sq());
    std::map<std::string, std::string> metadata =
        checkpoint_metadata(extra, kFormat, epoch_, opt_.to_json(),
                            epoch_ > 0 ? to_darts_string(best_) : std::string());
    // Doubles in JSON read back exactly (nlohmann writes the shortest round-trip text).
    const nlohmann::json state = {{"baseline", controller_.baseline()},
                                  {"adam_step", controller_.optimizer().steps()},
                                  {"best_acc", best_acc_},
                                  {"best", epoch_ > 0 ? to_json(best_) : nlohmann::json()},
                                  {"rewards", rewards_}};
    metadata["micro_state"] = state.dump();
    w.write(path, metadata);
}

void MicroSearch::load(const std::string& path) {
    const SafetensorsFile f =
        read_run_checkpoint(path, kFormat, opt_,
                            {"init_channels", "layers", "nodes", "stem_multiplier", "primitives",
                             "in_channels", "classes"});
    const nlohmann::json state = checkpoint_json(f, "micro_state");
    const std::string what = metadata_name(path, "micro_state");
    auto number = [&](const char* key) {
        if (!state.contains(key)) throw InputError(what + ": '" + key + "' is missing");
        return json_member<double>(state.at(key), what, key);
    };
    const double baseline = number("baseline"), best_acc = number("best_acc");
    if (!state.contains("adam_step")) throw InputError(what + ": 'adam_step' is missing");
    const int64_t adam_step = json_member<int64_t>(state.at("adam_step"), what, "adam_step");
    std::vector<double> rewards;
    if (state.contains("rewards")) {
        const nlohmann::json& r = state.at("rewards");
        if (!r.is_array()) wrong_json_type(what, "rewards", r, "a list of numbers");
        for (const nlohmann::json& x : r)
            rewards.push_back(json_member<double>(x, what, "rewards"));
    }
    const int epoch = checkpoint_epoch(f, path, opt_.epochs);
    Genotype best;
    if (epoch > 0)
        best = genotype_from_json(state.value("best", nlohmann::json()), what + ": best");

    for (const ParamStore* s : {&net_.weights(), &net_.buffers()}) restore_store(f, *s);
    restore_momentum(f, sgd_, net_.weights(), dev_);
    const ParamStore& c = controller_.weights();
    for (int i = 0; i < c.size(); ++i)
        restore_tensor(f, "controller." + c.names()[size_t(i)], c[i].value());
    Tensor m = Tensor::empty({c.total()}), v = Tensor::empty({c.total()});
    restore_tensor(f, "controller.adam.exp_avg", m);
    restore_tensor(f, "controller.adam.exp_avg_sq", v);
    if (adam_step < 0) throw InputError(what + ": 'adam_step' is negative");
    controller_.optimizer().set_state(m, v, adam_step);
    controller_.set_baseline(baseline);
    rewards_ = std::move(rewards);
    best_ = std::move(best);
    best_acc_ = best_acc;
    epoch_ = epoch;
}

}  // namespace cudarts::enas
