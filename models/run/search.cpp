// The DARTS search loop and its checkpoint; see models/run/search.h.
#include "models/run/search.h"

#include <cmath>
#include <cstring>
#include <numbers>
#include <unordered_set>

#include "engine/json.h"
#include "engine/safetensors.h"
#include "kernels/check.h"
#include "models/nn/checkpoint.h"
#include "models/nn/setting.h"
#include "models/run/search_checkpoint.h"

namespace cudarts {

namespace {

constexpr const char* kFormat = "cudarts-search-checkpoint-1";

// Independent sub-seeds (data/transforms.h mix64) for the data order, the α batches and the
// augmentation.
enum SeedStream : uint64_t { kOrder = 1, kAlphaBatch = 2, kAugment = 3, kValidKeys = 1ull << 62 };

template <class Options, class Visitor>
void search_fields(Options& o, const Visitor& f) {
    search_net_fields(o.net, f);
    f("epochs", o.epochs);
    f("batch_size", o.batch_size);
    f("train_portion", o.train_portion);
    f("w_lr", o.w_lr);
    f("w_lr_min", o.w_lr_min);
    f("w_momentum", o.w_momentum);
    f("w_weight_decay", o.w_weight_decay);
    f("w_grad_clip", o.w_grad_clip);
    f("alpha_lr", o.alpha_lr);
    f("alpha_weight_decay", o.alpha_weight_decay);
    f("alpha_beta1", o.alpha_beta1);
    f("alpha_beta2", o.alpha_beta2);
    f("order",
      MappedField<bool, int>{o.second_order, [](const bool& second) { return second ? 2 : 1; },
                             [](const int& order, const std::string&) { return order == 2; }});
    f("seed", o.seed);
    f("crop_pad", o.augment.crop_pad);
    f("flip", o.augment.flip);
    f("cutout", o.augment.cutout);
    f("derive_rule", MappedField<DeriveRule, std::string>{
                         o.rule,
                         [](const DeriveRule& r) {
                             return std::string(r == DeriveRule::kSoftmax ? "softmax" : "katib");
                         },
                         [](const std::string& s, const std::string&) {
                             return s == "katib" ? DeriveRule::kKatibLogits : DeriveRule::kSoftmax;
                         }});
}

}  // namespace

void SearchOptions::validate() const {
    require(epochs >= 1, "epochs", "at least 1", epochs);
    require(batch_size >= 2, "batch_size", "at least 2", batch_size);
    require(train_portion > 0 && train_portion < 1, "train_portion", "a fraction in (0, 1)",
            train_portion);
    require(w_lr > 0, "w_lr", "> 0", w_lr);
    require(w_lr_min >= 0, "w_lr_min", ">= 0", w_lr_min);
    require(w_momentum >= 0, "w_momentum", ">= 0", w_momentum);
    require(w_weight_decay >= 0, "w_weight_decay", ">= 0", w_weight_decay);
    require(w_grad_clip > 0, "w_grad_clip", "> 0", w_grad_clip);
    require(alpha_lr >= 0, "alpha_lr", ">= 0", alpha_lr);
    require(alpha_weight_decay >= 0, "alpha_weight_decay", ">= 0", alpha_weight_decay);
}

nlohmann::json SearchOptions::to_json() const {
    return fields_to_json(*this, [](auto& o, const auto& f) { search_fields(o, f); });
}

SearchOptions SearchOptions::from_json(const nlohmann::json& j, const std::string& what) {
    return fields_from_json<SearchOptions>(j, what,
                                           [](auto& o, const auto& f) { search_fields(o, f); });
}

nlohmann::json EpochMetrics::to_json() const {
    return {{"epoch", epoch},
            {"lr", lr},
            {"train_loss", train_loss},
            {"train_acc", train_acc},
            {"valid_loss", valid_loss},
            {"valid_acc", valid_acc},
            {"seconds", seconds},
            {"softmax_alphas_normal", softmax_normal},
            {"softmax_alphas_reduce", softmax_reduce},
            {"genotype", to_darts_string(genotype)}};
}

namespace {
SearchOptions prepared(SearchOptions opt, const ImageDataset& data) {
    opt.net.in_channels = data.channels;
    opt.net.classes = data.classes;
    opt.validate();
    opt.net.require_fits(data.height, data.width);
    return opt;
}
ArchitectOptions architect_options(const SearchOptions& o) {
    return {.second_order = o.second_order,
            .adam = {.lr = o.alpha_lr,
                     .beta1 = o.alpha_beta1,
                     .beta2 = o.alpha_beta2,
                     .eps = 1e-8f,
                     .weight_decay = o.alpha_weight_decay},
            .w_momentum = o.w_momentum,
            .w_weight_decay = o.w_weight_decay};
}
}  // namespace

Search::Search(SearchOptions opt, const ImageDataset& data, Device dev)
    : opt_(prepared(std::move(opt), data)),
      data_(data),
      dev_(dev),
      split_(int64_t(std::floor(opt_.train_portion * double(data.size())))),
      net_(opt_.net, dev, opt_.seed),
      sgd_(net_.weights(),
           {.lr = opt_.w_lr, .momentum = opt_.w_momentum, .weight_decay = opt_.w_weight_decay}),
      architect_(net_, architect_options(opt_)) {
    opt_.net = net_.config();  // with the default primitive list filled in
    if (split_ < 1 || data.size() - split_ < 1)
        throw SettingError("train_portion", std::to_string(opt_.train_portion) + " of " +
                                                std::to_string(data.size()) +
                                                " images leaves one half empty (expected both "
                                                "halves non-empty)");
}

int Search::steps_per_epoch() const { return steps_for(split_, opt_.batch_size); }

BatchRequest Search::valid_request(int64_t global_step) const {
    // An independent uniform random subset of the α half (darts.md 3, step 2), always full size
    // unless the half is smaller than a batch.
    const int64_t n = data_.size() - split_;
    const int64_t b = std::min<int64_t>(opt_.batch_size, n);
    Generator gen(mix64(opt_.seed, kAlphaBatch), uint64_t(global_step) << 32);
    BatchRequest r;
    r.key = 2 * uint64_t(global_step) + 1;
    std::unordered_set<int64_t> taken;
    while (int64_t(r.idx.size()) < b) {
        const int64_t i = int64_t(gen.below(uint64_t(n)));
        if (taken.insert(i).second) r.idx.push_back(split_ + i);
    }
    return r;
}

EpochMetrics Search::run_epoch(const std::function<void(const StepInfo&)>& on_step) {
    const auto t0 = begin_epoch(done(), "Search::run_epoch", opt_.epochs);
    EpochMetrics m;
    m.epoch = epoch_;
    m.lr = cosine_lr(opt_.w_lr, opt_.w_lr_min, epoch_, opt_.epochs);
    sgd_.set_lr(float(m.lr));

    const int steps = steps_per_epoch();
    const std::vector<int64_t> order =
        permutation(split_, mix64(opt_.seed, kOrder), uint64_t(epoch_));
    std::vector<BatchRequest> requests;
    for (int s = 0; s < steps; ++s) {
        const int64_t global = int64_t(epoch_) * steps + s;
        BatchRequest train;
        train.key = 2 * uint64_t(global);
        const int64_t end = std::min<int64_t>(split_, int64_t(s + 1) * opt_.batch_size);
        train.idx.assign(order.begin() + int64_t(s) * opt_.batch_size, order.begin() + end);
        requests.push_back(std::move(train));
        requests.push_back(valid_request(global));
    }
    BatchLoader loader(data_, opt_.augment, mix64(opt_.seed, kAugment), dev_);
    loader.start(std::move(requests));

    // A NaN or infinite loss, gradient norm or α stops the run at its step (DivergedError): the
    // state of the last epoch boundary, on disk, is the last good one.
    EpochAccumulator sums;
    for (int s = 0; s < steps; ++s) {
        const StepPlace at{epoch_, s, m.lr};
        const Batch train = loader.next();
        const Batch val = loader.next();
        const double l = step(train, val, at, sums);
        if (on_step) on_step({epoch_, s, steps, l, sums.acc()});
    }
    m.train_loss = sums.loss();
    m.train_acc = sums.acc();
    std::tie(m.valid_loss, m.valid_acc) = validate();
    require_finite(m.valid_loss, "the validation loss", {epoch_, -1, m.lr});
    ++epoch_;
    m.softmax_normal = softmax_alphas(false);
    m.softmax_reduce = softmax_alphas(true);
    m.genotype = genotype();
    m.seconds = epoch_seconds(t0);
    return m;
}

double Search::step(const Batch& train, const Batch& val, const StepPlace& at,
                    EpochAccumulator& sums) {
    try {
        architect_.step(train, val, float(at.lr), sgd_.momentum_buffer());
    } catch (const DivergedError& e) {
        throw DivergedError(std::string(e.what()) + " at " + at.str());
    }
    require_finite(architect_.last_val_loss(), "the architect's validation loss", at);
    require_finite(net_.alphas(), at);  // alphas_normal and alphas_reduce

    const Var logits = net_.forward(Var(train.images));
    const Var loss = cross_entropy(logits, train.labels);
    const double l = sums.add(loss, logits, train.labels);
    require_finite(l, "loss", at);
    backward(loss, net_.weights().vars());
    require_finite(clip_grad_norm(net_.weights(), opt_.w_grad_clip), "the gradient norm", at);
    sgd_.step();
    return l;
}

std::pair<double, double> Search::validate() {
    std::vector<BatchRequest> requests;
    for (int64_t b = split_; b < data_.size(); b += opt_.batch_size) {
        BatchRequest r;
        r.key = kValidKeys + uint64_t(epoch_) * (1ull << 32) + uint64_t(b);
        for (int64_t i = b; i < std::min<int64_t>(data_.size(), b + opt_.batch_size); ++i)
            r.idx.push_back(i);
        requests.push_back(std::move(r));
    }
    return evaluate_batches(data_, std::move(requests), opt_.augment, mix64(opt_.seed, kAugment),
                            dev_,
                            [&](const Var& x) { return net_.forward(x, {.training = false}); });
}

std::vector<float> Search::softmax_alphas(bool reduce) const {
    const Var& a = reduce ? net_.alphas_reduce() : net_.alphas_normal();
    return softmax_rows(a.value().to_vector(), a.size(1));
}

Genotype Search::genotype() const {
    const std::vector<float> normal = net_.alphas_normal().value().to_vector();
    const std::vector<float> reduce = net_.alphas_reduce().value().to_vector();
    return derive_genotype(normal.data(), net_.config().has_reduction() ? reduce.data() : nullptr,
                           net_.config().primitives, net_.config().nodes, opt_.rule);
}

void Search::save(const std::string& path, const std::map<std::string, std::string>& extra) const {
    CheckpointWriter w;
    w.add_store(net_.weights());
    w.add_store(net_.buffers());
    w.add_store(net_.alphas());
    add_momentum(w, sgd_);
    std::map<std::string, std::string> metadata =
        checkpoint_metadata(extra, kFormat, epoch_, opt_.to_json(), to_darts_string(genotype()));
    add_adam(w, metadata, architect_.optimizer());
    w.write(path, metadata);
}

std::map<std::string, std::string> Search::load(const std::string& path) {
    SafetensorsFile file = read_checkpoint(path, kFormat);
    (void)checkpoint_meta(file, "options");  // InputError when absent, before the alphas are read
    const SearchCheckpoint c = read_search_checkpoint(std::move(file));
    const SafetensorsFile& f = c.file;
    require_same_model(path, c.options->to_json(), opt_.to_json(),
                       {"init_channels", "layers", "nodes", "stem_multiplier", "primitives",
                        "in_channels", "classes"});
    for (const ParamStore* s : {&net_.weights(), &net_.buffers(), &net_.alphas()})
        restore_store(f, *s);
    restore_momentum(f, sgd_, net_.weights(), dev_);
    restore_adam(f, architect_.optimizer(), net_.alphas(), dev_);
    epoch_ = checkpoint_epoch(f, path, opt_.epochs);
    return f.metadata;
}

}  // namespace cudarts
